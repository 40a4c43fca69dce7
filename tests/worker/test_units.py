"""Pure parts without a broker: directive parsing, the calculator, tool validation."""

import pytest
from switchboard_orchestrator.directives import (
    BadDirective,
    Chat,
    Sleep,
    SwitchAgent,
    Tokens,
    ToolCall,
    parse,
)
from switchboard_orchestrator.tools.builtin import builtin_tools
from switchboard_orchestrator.tools.calc import CalcError, calculate
from switchboard_orchestrator.tools.registry import ToolError, ToolRegistry
from switchboard_orchestrator.tools.server import ToolServer


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("/tokens 5", Tokens(5, 0.0)),
        ("  /tokens 3 rate=2.5 ", Tokens(3, 2.5)),
        ("/agent travel", SwitchAgent("travel")),
        ("/sleep 0.5", Sleep(0.5)),
        ("/tool echo a=1 b=x c=null", ToolCall("echo", {"a": 1, "b": "x", "c": None})),
        ("/tool echo v=NaN", ToolCall("echo", {"v": "NaN"})),
        ("hello /tokens 5", Chat("hello /tokens 5")),
        ("/unknown thing", Chat("/unknown thing")),
    ],
)
def test_parse(content, expected):
    assert parse(content) == expected


@pytest.mark.parametrize(
    "content", ["/tokens", "/tokens 1e9", "/tokens 2 speed=3", "/sleep nan", "/sleep inf",
                "/tool echo novalue", "/tool echo a=[1", "/agent",
                '/tool echo x="\\u0000"', '/tool echo x={"a":"\\u0000"}', '/tool echo x="\\ud800"']
)  # fmt: skip
def test_bad_directives(content):
    with pytest.raises(BadDirective):
        parse(content)


@pytest.mark.parametrize(
    ("expression", "value"),
    [("2+3*4", 14), ("(1+2)/4", 0.75), ("-2**3", -8), ("7//2 + 7%2", 4), ("1.5e2", 150.0)],
)
def test_calculator(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('true')", "a+1", "(1).real", "'x'*3", "1/0", "9**9**9",
     "(-1)**0.5", "[1][0]", "lambda: 1", "", "1e308*10"],
)  # fmt: skip
def test_calculator_refuses_anything_but_arithmetic(expression):
    with pytest.raises(CalcError):
        calculate(expression)


async def test_registry_validates_parameters_against_the_schema():
    registry = ToolRegistry(builtin_tools(slow_max_s=1))
    assert await registry.call("echo", {"x": 1}) == {"echo": {"x": 1}}
    with pytest.raises(ToolError, match="seconds"):
        await registry.call("slow", {"seconds": 5})
    with pytest.raises(ToolError, match="unknown tool"):
        await registry.call("nope", {})
    with pytest.raises(ToolError, match="bad parameters"):
        await registry.call("create_family", {"name": "x", "extra": 1})


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"parameters": {}}',
        b'{"tool_name": 3}',
        b'{"tool_name": "echo", "parameters": 1}',
    ],
)
async def test_tool_server_answers_malformed_requests_with_an_error(body):
    server = ToolServer(None, None, ToolRegistry(builtin_tools(1)))  # type: ignore[arg-type]
    reply = await server.answer(body)
    assert set(reply) == {"error"} and reply["error"]
