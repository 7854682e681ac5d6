"""A1111's prompt syntax: attention weights (parse_prompt_attention's own examples and its
edge cases) and extra-network tags, with a clear message for each malformed one."""
import pytest

from engine.prompts.syntax import BREAK, NetworkTag, PromptSyntaxError, parse_weights, take_networks


def approx(fragments):
    return [(text, pytest.approx(weight)) for text, weight in fragments]


# -- A1111's documented examples ------------------------------------------------------

@pytest.mark.parametrize("prompt, expected", [
    ("normal text", [("normal text", 1.0)]),
    ("an (important) word", [("an ", 1.0), ("important", 1.1), (" word", 1.0)]),
    ("(unbalanced", [("unbalanced", 1.1)]),
    ("\\(literal\\]", [("(literal]", 1.0)]),
    ("(unnecessary)(parens)", [("unnecessaryparens", 1.1)]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).", [
        ("a ", 1.0),
        ("house", 1.3 * 1.1 * 1.1),
        (" ", 1.1),
        ("on", 1.0),
        (" a ", 1.1),
        ("hill", 0.55),
        (", sun, ", 1.1),
        ("sky", 1.1 ** 4),
        (".", 1.1),
    ]),
])
def test_a1111_documented_examples(prompt, expected):
    assert parse_weights(prompt) == approx(expected)


def test_a1111_example_weights_are_its_exact_floats():
    """The order of multiplication matters for which neighbours merge: A1111 prints these."""
    fragments = dict(parse_weights("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."))
    assert fragments["house"] == 1.5730000000000004
    assert fragments["sky"] == 1.4641000000000006


# -- brackets and weights -------------------------------------------------------------

@pytest.mark.parametrize("prompt, expected", [
    ("[x]", [("x", 1 / 1.1)]),
    ("[[x]]", [("x", 1 / 1.1 / 1.1)]),
    ("((x))", [("x", 1.21)]),
    ("(x:1.3)", [("x", 1.3)]),
    ("(x:.5)", [("x", 0.5)]),
    ("(x:-1)", [("x", -1.0)]),
    ("(x:+2)", [("x", 2.0)]),
    ("[(x:1.5)]", [("x", 1.5 / 1.1)]),
    ("((a) b:2)", [("a", 2.2), (" b", 2.0)]),
    ("(a [b] c)", [("a ", 1.1), ("b", 1.0), (" c", 1.1)]),
    ("[unbalanced", [("unbalanced", 1 / 1.1)]),
    ("((a) b", [("a", 1.21), (" b", 1.1)]),
])
def test_brackets_multiply_and_nest(prompt, expected):
    assert parse_weights(prompt) == approx(expected)


@pytest.mark.parametrize("prompt, expected", [
    ("a) b", [("a) b", 1.0)]),          # a closing bracket with nothing open is text
    ("a] b", [("a] b", 1.0)]),
    ("a :1.3) b", [("a :1.3) b", 1.0)]),  # a weight with no round bracket open is text
    ("[a:1.3)", [("a:1.3)", 1 / 1.1)]),  # a weight does not close a square bracket
    ("(a:1.3]", [("a:1.3]", 1.1)]),
    ("(a:1.3", [("a:1.3", 1.1)]),      # no closing bracket: the colon and number are text
    ("(a: 1.3)", [("a: 1.3", 1.1)]),   # a space before the number: text too
    ("(a:1e3)", [("a:1e3", 1.1)]),     # only digits and dots make a weight
    ("(a:-)", [("a:-", 1.1)]),
    ("time: 10:30", [("time: 10:30", 1.0)]),
])
def test_what_a1111_leaves_as_text(prompt, expected):
    assert parse_weights(prompt) == approx(expected)


@pytest.mark.parametrize("prompt, expected", [
    ("\\(x\\)", [("(x)", 1.0)]),
    ("\\[x\\]", [("[x]", 1.0)]),
    ("a \\\\ b", [("a \\ b", 1.0)]),
    ("(\\(x\\))", [("(x)", 1.1)]),     # escaped brackets take the weight around them
    ("a\\b", [("ab", 1.0)]),           # a backslash before anything else is dropped
    ("a\\", [("a", 1.0)]),
])
def test_backslash_escapes(prompt, expected):
    assert parse_weights(prompt) == approx(expected)


def test_neighbours_of_equal_weight_merge_and_others_do_not():
    assert parse_weights("(a)(b)[c]") == approx([("ab", 1.1), ("c", 1 / 1.1)])
    assert parse_weights("(a)[(b)]") == approx([("a", 1.1), ("b", 1.0)])


def test_empty_text():
    assert parse_weights("") == [("", 1.0)]
    assert parse_weights("()") == [("", 1.0)]
    assert parse_weights("[]()") == [("", 1.0)]


def test_plain_text_weighs_one_everywhere():
    assert parse_weights("a castle, on a hill: at dusk") == [("a castle, on a hill: at dusk", 1.0)]


@pytest.mark.parametrize("prompt", ["(x:1.2.3)", "(x:.)", "(x:..5)", "(x:-.)", "(x:" + "9" * 400 + ")"])
def test_a_weight_that_is_not_a_number_is_refused_by_name(prompt):
    with pytest.raises(PromptSyntaxError) as error:
        parse_weights(prompt)
    weight = prompt[3:-1]
    assert f"'{weight}'" in str(error.value)
    assert "(word:1.2)" in str(error.value)


def test_nested_weights_that_overflow_are_refused():
    huge = "9" * 300
    with pytest.raises(PromptSyntaxError, match="multiply"):
        parse_weights(f"((x:{huge}):{huge})")


# -- BREAK -----------------------------------------------------------------------------

def test_break_is_a_fragment_and_takes_its_spaces():
    assert parse_weights("a cat BREAK a dog") == [("a cat", 1.0), BREAK, ("a dog", 1.0)]
    assert BREAK == ("BREAK", -1.0)


@pytest.mark.parametrize("prompt, expected", [
    ("BREAK", [("", 1.0), BREAK, ("", 1.0)]),
    ("a BREAK BREAK b", [("a", 1.0), BREAK, ("", 1.0), BREAK, ("b", 1.0)]),
    ("a,BREAK,b", [("a,", 1.0), BREAK, (",b", 1.0)]),
    ("(a) BREAK (b)", [("a", 1.1), ("", 1.0), BREAK, ("", 1.0), ("b", 1.1)]),
])
def test_break_positions(prompt, expected):
    assert parse_weights(prompt) == approx(expected)


@pytest.mark.parametrize("prompt", ["a break b", "a Break b", "BREAKfast", "a BREAKS b", "xBREAK"])
def test_break_is_only_the_whole_uppercase_word(prompt):
    assert parse_weights(prompt) == [(prompt, 1.0)]


def test_break_inside_brackets_still_breaks():
    """A1111 scales the marker like text (giving the word "break" a weight of -1.1): here
    it stays a BREAK, and the text around it keeps the bracket's weight."""
    assert parse_weights("(a BREAK b)") == approx([("a", 1.1), BREAK, ("b", 1.1)])
    assert parse_weights("[(x:-1) BREAK]") == approx([("x", -1 / 1.1), ("", 1 / 1.1), BREAK, ("", 1 / 1.1)])


# -- extra-network tags -------------------------------------------------------------------

def test_a_lora_tag_is_taken_out_of_the_text():
    text, tags = take_networks("a castle, <lora:style:0.8> at dusk")
    assert text == "a castle,  at dusk"  # A1111 replaces the tag with nothing
    assert tags == [NetworkTag("lora", "style", 0.8, 0.8, "<lora:style:0.8>")]


@pytest.mark.parametrize("tag, weight, unet_weight", [
    ("<lora:x>", 1.0, 1.0),
    ("<lora:x:0.5>", 0.5, 0.5),
    ("<lora:x:0.5:0.7>", 0.5, 0.7),
    ("<lora:x:-0.4>", -0.4, -0.4),
    ("<lora:x:te=0.3>", 0.3, 0.3),
    ("<lora:x:unet=0.3>", 1.0, 0.3),
    ("<lora:x:te=0.2:unet=0.6>", 0.2, 0.6),
    ("<lora:x:0.9:te=0.4>", 0.4, 0.4),       # te= wins over the number, and the UNet follows it
    ("<lora:x:0.9:0.8:unet=0.1>", 0.9, 0.1),
    ("<lora:x: 0.5 >", 0.5, 0.5),
    ("<lora:x:100>", 100.0, 100.0),
    ("<lora:x:0:-100>", 0.0, -100.0),
])
def test_lora_weights(tag, weight, unet_weight):
    _, [found] = take_networks(tag)
    assert (found.kind, found.name, found.text) == ("lora", "x", tag)
    assert (found.weight, found.unet_weight) == (pytest.approx(weight), pytest.approx(unet_weight))


def test_names_are_kept_as_written():
    _, tags = take_networks("<lora:My Style-v1.2:0.5><lora:sub/dir_name>")
    assert [tag.name for tag in tags] == ["My Style-v1.2", "sub/dir_name"]


def test_lyco_is_lora_and_other_kinds_are_kept_for_the_caller():
    text, tags = take_networks("<lyco:a:0.5> x <hypernet:b:0.3> y <addnet:c>")
    assert text == " x  y "
    assert [(tag.kind, tag.name, tag.weight) for tag in tags] == [
        ("lora", "a", 0.5), ("hypernet", "b", 0.3), ("addnet", "c", 1.0)]
    assert tags[0].text == "<lyco:a:0.5>"


def test_tags_come_in_the_order_written_even_repeated():
    _, tags = take_networks("<lora:b:0.1>, <lora:a>, <lora:b:0.2>")
    assert [(tag.name, tag.weight) for tag in tags] == [("b", 0.1), ("a", 1.0), ("b", 0.2)]


@pytest.mark.parametrize("prompt", [
    "I <3 cats", "a <b> c", "<lora x>", "<:x>", "<lora-x:1>", "a < b : c", "text > more", "", "(x:1.2)",
])
def test_angle_brackets_that_make_no_tag_stay_text(prompt):
    assert take_networks(prompt) == (prompt, [])


def test_tags_inside_weights_leave_the_weighted_text():
    text, tags = take_networks("(a <lora:x:0.5> castle:1.2)")
    assert text == "(a  castle:1.2)"
    assert parse_weights(text) == approx([("a  castle", 1.2)])
    assert len(tags) == 1


@pytest.mark.parametrize("tag, words", [
    ("<lora:>", "names no file"),
    ("<lora: >", "names no file"),
    ("<lora:te=0.5>", "names no file"),
    ("<lora:name:abc>", "'abc'"),
    ("<lora:name:0.5:abc>", "'abc'"),
    ("<lora:name:te=x>", "'x'"),
    ("<lora:name:nan>", "not a finite number"),
    ("<lora:name:inf>", "not a finite number"),
    ("<lora:name:1e309>", "not a finite number"),
    ("<lora:name:-1e309>", "not a finite number"),
    ("<lora:name:101>", "outside the range -100 to 100"),
    ("<lora:name:0.5:-150>", "outside the range -100 to 100"),
    ("<lora:name:unet=1000>", "outside the range -100 to 100"),
    ("<lora:name:>", "is empty"),
    ("<lora:name:1:1:8>", "reduced rank"),
    ("<lora:name:dyn=8>", "reduced rank"),
    ("<lora:name:wieght=0.5>", "'wieght='"),
])
def test_malformed_tags_are_refused_naming_the_tag(tag, words):
    with pytest.raises(PromptSyntaxError) as error:
        take_networks(f"a castle, {tag}, at dusk")
    message = str(error.value)
    assert tag in message and words in message
    assert message.endswith(".") and "\n" not in message


def test_the_syntax_error_is_a_value_error():
    assert issubclass(PromptSyntaxError, ValueError)
