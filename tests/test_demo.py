"""The Gradio demo through gradio_client, against the app served on a local port: streaming, seeds, text past the
window, the anatomy's numbers, and clear errors for bad input."""

import socket

import pytest
from gradio_client import Client

from machado_gpt.config import context_length
from machado_gpt.demo import I18N, build_demo
from machado_gpt.evaluation import load_model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def client(tiny_model_dirs):
    model, tokenizer = load_model(str(tiny_model_dirs), attn_implementation="eager")
    demo = build_demo(model, tokenizer, str(tiny_model_dirs))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, i18n=I18N, quiet=True)
    try:
        yield Client(demo.local_url, verbose=False), model, tokenizer
    finally:
        demo.close()


def write(client, prompt="Capitu", length=60, temperature=0.7, top_k=50, top_p=0.95, seed=7) -> list[str]:
    job = client.submit(prompt, length, temperature, top_k, top_p, seed, api_name="/escrever")
    job.result()
    return job.outputs()


def test_escrever_streams_and_a_seed_gives_the_same_text(client):
    c, _, _ = client
    updates = write(c)
    assert len(updates) > 10  # streamed: many updates, each the text so far
    assert all(b.startswith(a) for a, b in zip(updates, updates[1:])) and updates[0].startswith("Capitu")
    assert write(c)[-1] == updates[-1]
    assert write(c, seed=8)[-1] != updates[-1]


def test_escrever_writes_1000_tokens_past_the_window(client):
    c, model, tokenizer = client
    text = write(c, length=1000, temperature=1.0, top_k=0, top_p=1.0)[-1]
    new = tokenizer(text[len("Capitu"):], add_special_tokens=False)["input_ids"]
    assert context_length(model.config) == 16 and 950 <= len(new) <= 1000  # a char model: a token a char


@pytest.mark.parametrize("args, message", [
    (dict(prompt="   "), "prompt is empty"),
    (dict(prompt="x" * 3000), "this demo takes up to 2000"),
    (dict(temperature=-1), "less than minimum value 0"),  # the sliders' own bounds, checked by Gradio
    (dict(top_p=0), "less than minimum value 0.05"),
    (dict(length=50_000), "greater than maximum value 2000"),
    (dict(seed=10**30), r"seed \S+ is out of range"),  # past float precision: rejected before any cast
    (dict(seed=2**40), "seed 1099511627776 must be between 0 and 4,294,967,295"),
    (dict(seed=-5), "seed -5 must be -1 \\(random\\)"),
])
def test_escrever_bad_input_is_a_message_not_a_traceback(client, args, message):
    c, _, _ = client
    with pytest.raises(Exception, match=message) as err:
        write(c, **args)
    assert "Traceback" not in str(err.value)


def test_anatomia_numbers_have_the_right_shapes(client):
    c, model, tokenizer = client
    bars, heat, lens, data = c.predict("Capitu olhou", 1, 1, -1, api_name="/anatomia")
    n = len(tokenizer("Capitu olhou", add_special_tokens=False)["input_ids"])
    assert all(plot is not None for plot in (bars, heat, lens))
    assert len(data["tokens"]) == n and "".join(data["tokens"]) == "Capitu olhou"
    assert len(data["top"]) == n and all(len(row) == 5 for row in data["top"])
    for row in data["top"]:
        probs = [p for _, p in row]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    attention = data["attention"]
    assert len(attention) == n and all(len(row) == n for row in attention)
    for q, row in enumerate(attention):
        assert sum(row) == pytest.approx(1, abs=1e-4) and all(w == 0 for w in row[q + 1:])  # causal
    assert data["position"] == n - 2 and data["next_token"] == data["tokens"][-1]
    assert len(data["lens"]) == model.config.num_hidden_layers + 1 and all(0 <= p <= 1 for p in data["lens"])
    # The lens after the last layer is the model's own probability of that next token.
    actual = [p for tok, p in data["top"][n - 2] if tok == data["next_token"]]
    assert not actual or data["lens"][-1] == pytest.approx(actual[0], rel=1e-5)


@pytest.mark.parametrize("args, message", [
    (("", 0, 0, -1), "prompt is empty"),
    (("Capitu " * 10, 0, 0, -1), "the model sees at most 16"),
    (("Capitu", 9, 0, -1), "greater than maximum value 1"),  # the layer slider of a 2-layer model
    (("Capitu", 0, 0, 40), "has no next token"),
])
def test_anatomia_bad_input_is_a_message(client, args, message):
    c, _, _ = client
    with pytest.raises(Exception, match=message):
        c.predict(*args, api_name="/anatomia")
