"""A1111's chunks: 75 tokens between start and end, the comma backtrack, BREAK, textual
inversion embeddings by name, a weight per token, and A1111's used/capacity counter."""
import random
import re

import pytest

from engine.benchmark.prompt_parsing import measure
from engine.prompts.chunks import CHUNK_TOKENS, Chunk, EmbeddingSlot, TokenIds, chunk_prompt, token_count
from engine.prompts.syntax import BREAK, PromptSyntaxError, parse_weights

START, END = 49406, 49407
COMMA = 267


class ToyTokenizer:
    """Lower-cased words and punctuation marks, one token each (ids in order of first sight,
    from 1000): a stand-in for CLIP's BPE, which the caller strips of start and end."""

    def __init__(self, comma: int = COMMA):
        self.ids = {",": comma}

    def __call__(self, text: str) -> list[int]:
        return [self.ids.setdefault(word, 1000 + len(self.ids)) for word in re.findall(r"\w+|[^\w\s]", text.lower())]

    def id(self, word: str) -> int:
        [token] = self(word)
        return token


def words(count: int, first: int = 0) -> str:
    return " ".join(f"w{index}" for index in range(first, first + count))


def chunks_of(prompt: str, tokenize=None, **options) -> list[Chunk]:
    return chunk_prompt(parse_weights(prompt), tokenize or ToyTokenizer(), **options)


def text_of(chunk: Chunk) -> list:
    return list(chunk.tokens[1:1 + chunk.used])


def check_layout(chunk: Chunk, ids: TokenIds = TokenIds()):
    """start, the text, end, padding; weight 1 outside the text."""
    assert len(chunk.tokens) == len(chunk.weights) == CHUNK_TOKENS + 2
    assert chunk.tokens[0] == ids.start
    assert chunk.tokens[1 + chunk.used] == ids.end
    assert chunk.tokens[2 + chunk.used:] == (ids.pad,) * (CHUNK_TOKENS - chunk.used)
    assert chunk.weights[0] == 1.0 and set(chunk.weights[1 + chunk.used:]) == {1.0}


# -- sizes -------------------------------------------------------------------------------

def test_an_empty_prompt_is_one_chunk_of_padding():
    for fragments in ([("", 1.0)], []):
        [chunk] = chunk_prompt(fragments, ToyTokenizer())
        assert chunk == Chunk((START,) + (END,) * 76, (1.0,) * 77, 0)
    assert token_count([("", 1.0)], ToyTokenizer()) == (0, 75)


def test_a_short_prompt_is_start_text_end_and_padding():
    tokenize = ToyTokenizer()
    [chunk] = chunks_of("a red fox", tokenize)
    assert chunk.used == 3
    assert chunk.tokens[:5] == (START, tokenize.id("a"), tokenize.id("red"), tokenize.id("fox"), END)
    check_layout(chunk)
    assert token_count(parse_weights("a red fox"), tokenize) == (3, 75)


def test_75_tokens_fill_one_chunk_and_the_76th_starts_another():
    tokenize = ToyTokenizer()
    [full] = chunks_of(words(75), tokenize)
    assert full.used == 75 and full.tokens[-1] == END
    first, second = chunks_of(words(76), tokenize)
    assert (first.used, second.used) == (75, 1)
    assert text_of(first) == tokenize(words(75)) and text_of(second) == tokenize("w75")
    check_layout(first), check_layout(second)
    assert token_count(parse_weights(words(76)), tokenize) == (76, 150)
    assert [chunk.used for chunk in chunks_of(words(200), tokenize)] == [75, 75, 50]


def test_other_special_ids_pad_after_the_end_token():
    """SD 2's tokenizer pads with a third id: start, text, end, then pads."""
    ids = TokenIds(start=1, end=2, pad=0)
    [chunk] = chunks_of("a b", ids=ids)
    assert chunk.tokens[:4] == (1, chunk.tokens[1], chunk.tokens[2], 2)
    check_layout(chunk, ids)
    assert set(chunk.tokens[4:]) == {0}


# -- the comma backtrack -----------------------------------------------------------------

def test_a_comma_near_the_end_moves_the_words_after_it_to_the_next_chunk():
    tokenize = ToyTokenizer()
    prompt = f"{words(60)}, {words(20, 60)}"  # the comma is token 60: 15 from the chunk's end
    first, second = chunks_of(prompt, tokenize)
    assert first.used == 61 and text_of(first)[-1] == COMMA
    assert text_of(second) == tokenize(words(20, 60))
    check_layout(first), check_layout(second)
    # A1111 counts the first chunk whole: 75 + 20.
    assert token_count(parse_weights(prompt), tokenize) == (95, 150)


def test_the_backtrack_reaches_exactly_comma_backtrack_tokens():
    at_limit = chunks_of(f"{words(55)}, {words(30, 55)}")  # comma at 55: 75 - 55 = 20
    assert [chunk.used for chunk in at_limit] == [56, 30]
    beyond = chunks_of(f"{words(54)}, {words(30, 54)}")  # comma at 54: 21 back
    assert [chunk.used for chunk in beyond] == [75, 10]


def test_the_backtrack_distance_is_a_setting_and_zero_turns_it_off():
    prompt = f"{words(65)}, {words(20, 65)}"  # comma at 65: 10 back
    assert [chunk.used for chunk in chunks_of(prompt)] == [66, 20]
    assert [chunk.used for chunk in chunks_of(prompt, comma_backtrack=0)] == [75, 11]
    assert [chunk.used for chunk in chunks_of(prompt, comma_backtrack=9)] == [75, 11]
    assert [chunk.used for chunk in chunks_of(prompt, comma_backtrack=10)] == [66, 20]


def test_only_the_last_comma_counts():
    prompt = f"{words(60)}, {words(5, 60)}, {words(20, 65)}"  # commas at 60 and 66
    assert [chunk.used for chunk in chunks_of(prompt)] == [67, 20]


def test_a_comma_as_the_75th_token_ends_the_chunk_cleanly():
    tokenize = ToyTokenizer()
    first, second = chunks_of(f"{words(74)}, {words(3, 74)}", tokenize)
    assert (first.used, second.used) == (75, 3) and text_of(first)[-1] == COMMA


def test_a_comma_as_the_76th_token_opens_the_next_chunk():
    first, second = chunks_of(f"{words(75)}, w75")
    assert (first.used, second.used) == (75, 2)
    assert text_of(second)[0] == COMMA


def test_the_comma_id_is_the_tokenizers():
    tokenize = ToyTokenizer(comma=5)
    assert [chunk.used for chunk in chunks_of(f"{words(60)}, {words(20, 60)}", tokenize)] == [61, 20]


def test_moved_words_keep_their_weights():
    prompt = f"{words(60)}, (w60 w61:1.5) {words(18, 62)}"
    first, second = chunks_of(prompt)
    assert second.weights[1:3] == (1.5, 1.5) and set(second.weights[3:]) == {1.0}


# -- BREAK ---------------------------------------------------------------------------------

def test_break_ends_the_chunk_early():
    tokenize = ToyTokenizer()
    first, second = chunks_of("a cat BREAK a dog", tokenize)
    assert text_of(first) == tokenize("a cat") and text_of(second) == tokenize("a dog")
    check_layout(first), check_layout(second)
    assert token_count(parse_weights("a cat BREAK a dog"), tokenize) == (77, 150)


def test_break_positions_as_a1111_reads_them():
    # A leading BREAK closes an empty chunk; a trailing one leaves no chunk after it.
    assert [chunk.used for chunk in chunks_of("BREAK a")] == [0, 1]
    assert [chunk.used for chunk in chunks_of("a BREAK")] == [1]
    assert [chunk.used for chunk in chunks_of("a BREAK BREAK b")] == [1, 0, 1]
    assert token_count(parse_weights("a BREAK"), ToyTokenizer()) == (75, 75)


def test_break_on_a_full_chunk_adds_no_empty_one():
    assert [chunk.used for chunk in chunks_of(f"{words(75)} BREAK w75")] == [75, 1]


def test_a_fragment_named_break_with_another_weight_is_text():
    tokenize = ToyTokenizer()
    [chunk] = chunk_prompt([("BREAK", 1.0)], tokenize)
    assert text_of(chunk) == [tokenize.id("break")]
    assert len(chunk_prompt([("a", 1.0), BREAK, ("b", 1.0)], tokenize)) == 2


# -- weights -----------------------------------------------------------------------------

def test_each_token_carries_its_fragments_weight():
    tokenize = ToyTokenizer()
    [chunk] = chunks_of("a (red fox:1.3) [jumps], high", tokenize)
    assert text_of(chunk) == tokenize("a red fox jumps, high")
    assert chunk.weights[:8] == pytest.approx([1.0, 1.0, 1.3, 1.3, 1 / 1.1, 1.0, 1.0, 1.0])


def test_a_weight_of_one_everywhere():
    prompt = ", ".join(words(8, start) for start in range(0, 240, 8)) + " BREAK " + words(30, 300)
    chunks = chunks_of(prompt)
    assert len(chunks) >= 4
    assert all(set(chunk.weights) == {1.0} for chunk in chunks)


# -- textual inversion embeddings ----------------------------------------------------------

def test_an_embedding_name_becomes_one_slot_per_vector():
    tokenize = ToyTokenizer()
    [chunk] = chunks_of("a photo in (mystyle:1.2) colours", tokenize, embeddings={"mystyle": 3})
    slots = [EmbeddingSlot("mystyle", index) for index in range(3)]
    assert text_of(chunk) == [tokenize.id("a"), tokenize.id("photo"), tokenize.id("in"), *slots, tokenize.id("colours")]
    assert chunk.used == 7
    assert chunk.weights[4:7] == (1.2, 1.2, 1.2) and chunk.weights[7] == 1.0
    check_layout(chunk)
    assert token_count(parse_weights("a (mystyle:1.2)"), tokenize, {"mystyle": 3}) == (4, 75)


def test_a_name_of_several_tokens_and_the_longest_match_first():
    embeddings = {"bad": 1, "bad hands": 2, "bad hands v2": 4}
    tokenize = ToyTokenizer()
    [chunk] = chunks_of("bad hands v2, bad hands, bad, bad feet", tokenize, embeddings=embeddings)
    comma, feet = tokenize.id(","), tokenize.id("feet")
    assert text_of(chunk) == [
        *(EmbeddingSlot("bad hands v2", index) for index in range(4)), comma,
        *(EmbeddingSlot("bad hands", index) for index in range(2)), comma,
        EmbeddingSlot("bad", 0), comma,
        EmbeddingSlot("bad", 0), feet]


def test_a_name_split_between_fragments_is_not_an_embedding():
    """Each fragment is tokenized and searched on its own, as in A1111."""
    tokenize = ToyTokenizer()
    [chunk] = chunks_of("(bad) hands", tokenize, embeddings={"bad hands": 2})
    assert text_of(chunk) == tokenize("bad hands")


def test_unnamed_embeddings_change_nothing():
    tokenize = ToyTokenizer()
    assert chunks_of("a red fox", tokenize, embeddings={"mystyle": 3}) == chunks_of("a red fox", tokenize)


def test_an_embedding_that_does_not_fit_starts_the_next_chunk():
    first, second = chunks_of(f"{words(73)} mystyle w73", embeddings={"mystyle": 3})
    assert (first.used, second.used) == (73, 4)
    assert second.tokens[1:4] == tuple(EmbeddingSlot("mystyle", index) for index in range(3))
    check_layout(first), check_layout(second)
    [exact] = chunks_of(f"{words(72)} mystyle", embeddings={"mystyle": 3})
    assert exact.used == 75 and exact.tokens[-4:-1] == tuple(EmbeddingSlot("mystyle", i) for i in range(3))


def test_embedding_slots_move_with_the_comma_backtrack():
    first, second = chunks_of(f"{words(60)}, mystyle {words(20, 60)}", embeddings={"mystyle": 2})
    assert first.used == 61
    assert second.tokens[1:3] == (EmbeddingSlot("mystyle", 0), EmbeddingSlot("mystyle", 1))


@pytest.mark.parametrize("vectors", [0, 76])
def test_an_embedding_no_chunk_can_hold_is_refused_by_name(vectors):
    with pytest.raises(PromptSyntaxError, match="'huge' has") as error:
        chunks_of("a huge thing", embeddings={"huge": vectors})
    assert "remove its name" in str(error.value)
    chunks_of("a small thing", embeddings={"huge": vectors})  # only a prompt naming it fails


# -- invariants on random prompts ------------------------------------------------------------

def test_random_prompts_lose_no_token_and_keep_the_layout():
    rng = random.Random(7)
    pieces = ["cat", "dog", ",", "(red)", "[blue]", "(sky:1.4)", "BREAK", "mystyle", "a b c d e f g"]
    for _ in range(200):
        prompt = " ".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))
        tokenize = ToyTokenizer()
        chunks = chunks_of(prompt, tokenize, embeddings={"mystyle": 2})
        stream = [token for chunk in chunks for token in text_of(chunk)]
        expected = []
        for text, _ in parse_weights(prompt):
            if text != "BREAK":
                for token in tokenize(text):
                    expected.extend([EmbeddingSlot("mystyle", 0), EmbeddingSlot("mystyle", 1)]
                                    if token == tokenize.id("mystyle") else [token])
        assert stream == expected
        for chunk in chunks:
            check_layout(chunk)
        used, capacity = token_count(parse_weights(prompt), tokenize, {"mystyle": 2})
        assert capacity == 75 * len(chunks)
        assert used == 75 * (len(chunks) - 1) + chunks[-1].used or used == 75 * len(chunks)


# -- the benchmark's figures ---------------------------------------------------------------

def test_the_benchmark_reports_its_figures():
    figures = measure(ToyTokenizer(), repeats=3)
    assert figures["tokens"] > 150 and figures["chunks"] >= 3
    assert all(figures[name] > 0 for name in ("parse_ms", "networks_ms", "chunk_ms", "total_ms", "tokenize_ms"))
    assert figures["total_ms"] >= figures["chunk_ms"]
