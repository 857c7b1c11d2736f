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
        # An English reader (the demo answers an API client that sends no Accept-Language in Portuguese)
        yield Client(demo.local_url, verbose=False, headers={"Accept-Language": "en-US,en"}), model, tokenizer, demo
    finally:
        demo.close()


def write(client, prompt="Capitu", length=60, temperature=0.7, top_k=50, top_p=0.95, seed=7, variants=False) -> list:
    """The streamed updates: each the text so far (a tuple of the three texts with variants)."""
    job = client.submit(prompt, length, temperature, top_k, top_p, seed, variants, api_name="/escrever")
    job.result()
    return [(text, text_2, text_3) if variants else text for text, text_2, text_3, _ in job.outputs()]


def test_escrever_draws_a_fresh_seed_by_default_and_shows_it(client):
    c, _, _, _ = client
    runs = [c.predict("Capitu", 60, 1.0, 0, 1.0, -1, False, api_name="/escrever") for _ in range(2)]
    (text_a, _, _, note_a), (text_b, _, _, note_b) = runs
    assert text_a != text_b and note_a != note_b  # pressing Escrever again writes something new
    seed = int(note_a.split("**")[1])
    assert note_a.startswith("Seed used: **")  # this client reads English
    assert write(c, length=60, temperature=1.0, top_k=0, top_p=1.0, seed=seed)[-1] == text_a  # and it repeats


def test_escrever_streams_and_a_seed_gives_the_same_text(client):
    c, _, _, _ = client
    updates = write(c)
    assert len(updates) > 10  # streamed: many updates, each the text so far
    assert all(b.startswith(a) for a, b in zip(updates, updates[1:])) and updates[0].startswith("Capitu")
    assert write(c)[-1] == updates[-1]
    assert write(c, seed=8)[-1] != updates[-1]


def test_escrever_writes_1000_tokens_past_the_window(client):
    c, model, tokenizer, _ = client
    text = write(c, length=1000, temperature=1.0, top_k=0, top_p=1.0)[-1]
    new = tokenizer(text[len("Capitu"):], add_special_tokens=False)["input_ids"]
    assert context_length(model.config) == 16 and 950 <= len(new) <= 1000  # a char model: a token a char


@pytest.mark.parametrize("args, message", [
    (dict(prompt="   "), "prompt is empty"),
    (dict(prompt="x" * 3000), "this demo takes up to 2,000"),
    (dict(temperature=-1), "less than minimum value 0"),  # the sliders' own bounds, checked by Gradio
    (dict(top_p=0), "less than minimum value 0.05"),
    (dict(length=50_000), "greater than maximum value 2000"),
    (dict(seed=10**30), r"seed \S+ is out of range"),  # past float precision: rejected before any cast
    (dict(seed=2**40), r"seed 1099511627776 must be -1 \(random\) or between 0 and 4,294,967,295"),
    (dict(seed=-5), "seed -5 must be -1 \\(random\\)"),
])
def test_escrever_bad_input_is_a_message_not_a_traceback(client, args, message):
    c, _, _, _ = client
    with pytest.raises(Exception, match=message) as err:
        write(c, **args)
    assert "Traceback" not in str(err.value)


def test_anatomia_numbers_have_the_right_shapes(client):
    c, model, tokenizer, _ = client
    bars, heat, lens, table, lens_table, data = c.predict("Capitu olhou", 1, 1, -1, api_name="/anatomia")
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
    (("C", 0, 0, -1), "the prompt has one token"),
])
def test_anatomia_bad_input_is_a_message(client, args, message):
    c, _, _, _ = client
    with pytest.raises(Exception, match=message):
        c.predict(*args, api_name="/anatomia")


def test_numbers_follow_the_readers_language():
    from machado_gpt.i18n import language, number

    assert (number(1.7234, "pt", 3), number(1.7234, "en", 3)) == ("1,723", "1.723")
    assert (number(1328512, "pt"), number(1328512, "en")) == ("1.328.512", "1,328,512")
    assert [language(h) for h in ("pt-BR,pt;q=0.9,en;q=0.8", "pt-PT", "en-US,en;q=0.9", "fr-FR", None)] == [
        "pt", "pt", "en", "en", "pt"]


def test_a_portuguese_reader_gets_portuguese_errors_with_portuguese_numbers(client):
    _, _, _, demo = client
    portuguese = Client(demo.local_url, verbose=False)  # no Accept-Language: Portuguese first
    with pytest.raises(Exception, match="o texto tem 3.000 caracteres; esta demonstração aceita até 2.000"):
        portuguese.predict("x" * 3000, 60, 0.7, 50, 0.95, 7, api_name="/escrever")
    with pytest.raises(Exception, match=r"a semente 1099511627776 deve ser -1 \(aleatória\)"):
        portuguese.predict("Capitu", 60, 0.7, 50, 0.95, 2**40, api_name="/escrever")
    *_, data = portuguese.predict("Capitu", 0, 0, 40, api_name="/anatomia")
    assert data["errors"] == {"lens": "a posição 40 não tem próximo token no texto: escolha de 0 a 4"}


def test_the_actual_next_token_has_its_probability_and_rank_everywhere(client):
    c, model, tokenizer, _ = client
    *_, table, _, data = c.predict("Capitu olhou", 1, 1, -1, api_name="/anatomia")
    n = len(data["tokens"])
    assert len(data["actual"]) == n - 1 and len(table["data"]) == n - 1
    for t, (p, rank) in enumerate(data["actual"]):
        in_top = [q for tok, q in data["top"][t] if tok == data["tokens"][t + 1]]
        if in_top:  # in the top 5: the same probability, at the rank of its bar
            assert p == pytest.approx(in_top[0], rel=1e-5) and rank == [tok for tok, _ in data["top"][t]].index(
                data["tokens"][t + 1]) + 1
        else:
            assert rank > 5 and p <= data["top"][t][-1][1]


def test_three_variants_are_one_batch_of_three_different_continuations(client):
    c, model, tokenizer, _ = client
    updates = write(c, length=40, temperature=1.0, top_k=0, top_p=1.0, seed=11, variants=True)
    texts = updates[-1]
    assert len(updates) > 5 and all(t.startswith("Capitu") and len(t) > 30 for t in texts)
    assert len(set(texts)) == 3  # three samples of one prompt, not one sample three times
    assert write(c, length=40, temperature=1.0, top_k=0, top_p=1.0, seed=11, variants=True)[-1] == texts  # seeded
    alone = write(c, length=40, temperature=1.0, top_k=0, top_p=1.0, seed=11)[-1]
    assert alone.startswith("Capitu") and write(c, length=40, seed=11)[-1][0] == "C"  # and without: one text
    only = c.predict("Capitu", 20, 0.7, 50, 0.95, 3, False, api_name="/escrever")
    assert only[1] == only[2] == ""  # the variant boxes stay empty unless asked for


def test_each_anatomia_picture_keeps_its_own_error(client):
    """A bad position breaks only the lens, a bad head only the heatmap: the other pictures are still drawn."""
    c, _, _, _ = client
    bars, heat, lens, table, lens_table, data = c.predict("Capitu olhou", 1, 1, 40, api_name="/anatomia")
    assert set(data["errors"]) == {"lens"} and "position 40 has no next token" in data["errors"]["lens"]
    assert data["attention"] is not None and data["lens"] is None and len(table["data"]) == len(data["tokens"]) - 1
    assert lens_table["data"] in ([], [[]]) or not any(lens_table["data"])
    assert all(plot is not None for plot in (bars, heat, lens))  # the lens picture says what went wrong


def test_numbers_table_is_readable_and_matches_the_numbers(client):
    """'Os números' is a table: one row per position, the actual next token with its probability and rank, the
    model's first choice; and the lens, layer by layer, numbers as the reader writes them."""
    c, model, _, _ = client
    _, _, _, table, lens_table, data = c.predict("Capitu olhou", 1, 0, -1, api_name="/anatomia")
    assert table["headers"] == ["position", "token", "actual next token", "p(actual)", "rank of actual", "most likely",
                                "p(most likely)"]
    for t, row in enumerate(table["data"]):
        p, rank = data["actual"][t]
        assert int(row[0]) == t and row[3] == f"{p:.3f}" and int(row[4]) == rank
    assert [row[1] for row in lens_table["data"]] == [f"{p:.3f}" for p in data["lens"]]
    assert len(lens_table["data"]) == model.config.num_hidden_layers + 1
    _, _, _, pt_table, _, _ = Client(c.src, verbose=False).predict("Capitu olhou", 1, 0, -1, api_name="/anatomia")
    assert pt_table["headers"][3] == "p(real)" and pt_table["data"][0][3] == f"{data['actual'][0][0]:.3f}".replace(".", ",")


def test_opening_example_is_measured_on_the_served_model(client):
    """The default position is where the lens rises most, the default head the most previous-token head, and the
    notes under each picture quote the numbers the pictures show."""
    from machado_gpt.anatomy import anatomy, rising_position
    from machado_gpt.demo import ANATOMY_EXAMPLE, example, previous_token_head

    _, model, tokenizer, _ = client
    opening = example(model, tokenizer)
    prompt = opening["prompt"]  # the example's longest ending that fits this 16-token model
    assert ANATOMY_EXAMPLE.endswith(" " + prompt) and prompt.endswith("ressaca")
    assert len(tokenizer(" " + prompt, add_special_tokens=False)["input_ids"]) > 16
    position = rising_position(model, tokenizer, prompt)
    n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    rises = [anatomy(model, tokenizer, prompt, position=t)["lens"] for t in range(n - 1)]
    assert opening["position"] == position == max(range(n - 1), key=lambda t: rises[t][-1] - rises[t][0])
    layer, head, weight = previous_token_head(model, tokenizer, prompt)
    assert (opening["layer"], opening["head"]) == (layer, head) and 0 < weight <= 1
    lens = rises[position]
    assert f"{lens[-1]:.2f}".replace(".", ",") in opening["notes"]["pt"]["lens"]
    assert f"{lens[0]:.2f}" in opening["notes"]["en"]["lens"] and f"{weight:.2f}" in opening["notes"]["en"]["attention"]


@pytest.mark.slow  # 18 s (trains the main tokenizer): make test stays under 7 minutes
def test_examples_end_on_a_word_the_main_tokenizer_keeps_whole(tmp_path, real_dataset):
    """Each example's last word is one token of the main recipe's tokenizer (BPE 2,048 on the real corpus), so
    the model starts a new word instead of going on inside one, as it did after 'Capitu' (C/a/pi/tu)."""
    from machado_gpt.demo import EXAMPLES
    from machado_gpt.tokenizer import TokenizerArguments, train_tokenizer

    dsd, _ = real_dataset
    tokenizer = train_tokenizer(dsd, TokenizerArguments(tokenizer_kind="bpe", tokenizer_vocab_size=2048,
                                                        tokenizer_dir=str(tmp_path / "bpe")), 128, log=lambda *_: None)
    for example in EXAMPLES:
        ids = tokenizer(example, add_special_tokens=False)["input_ids"]
        last = example.rsplit(" ", 1)[-1]
        assert tokenizer.decode(ids[-1:]).strip() == last, (example, [tokenizer.decode([i]) for i in ids])
    assert len(tokenizer("Capitu", add_special_tokens=False)["input_ids"]) > 1  # why "Capitu" alone is not one
