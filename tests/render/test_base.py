"""The registries of renderers (render/base.py): one per kind of document, names in plug-in order,
the help of ``--format`` made from them."""

from __future__ import annotations

from typing import Any

import pytest

from sipsniff.render.base import (
    AUTH_RENDERERS,
    PLUGINS,
    RENDERERS,
    STATS_RENDERERS,
    Registry,
    load_plugins,
)


def test_each_command_has_its_formats() -> None:
    assert RENDERERS.names() == ("text", "json", "html", "mermaid", "plantuml", "ndjson", "csv")
    assert STATS_RENDERERS.names() == ("text", "json")
    assert AUTH_RENDERERS.names() == ("text", "json")
    # a name is a name per kind: stats' text is not read's
    kinds: tuple[Registry[Any], ...] = (RENDERERS, STATS_RENDERERS, AUTH_RENDERERS)
    assert len({registry["text"] for registry in kinds}) == 3
    assert len({registry["json"] for registry in kinds}) == 3


def test_only_renderers_that_lay_text_out_get_a_console() -> None:
    for registry in (RENDERERS, STATS_RENDERERS, AUTH_RENDERERS):
        assert {n for n in registry.names() if registry[n].console} == {"text"}


def test_help_names_each_format_and_groups_alike_ones() -> None:
    assert RENDERERS.help() == (
        "text: call list and ladders in the terminal; json: one document (docs/json.md); html: "
        "a self-contained page; mermaid, plantuml: sequence diagrams; ndjson: a message per line; "
        "csv: the call list."
    )
    assert STATS_RENDERERS.help() == "text: tables; json: one document (docs/stats.md)."
    assert AUTH_RENDERERS.help() == (
        "text: per dialog, step by step; json: one document (docs/auth.md)."
    )


class _Late:
    name = "late"
    description = "registered last"
    console = False


class _Early:
    name = "early"
    description = "registered first"
    console = False


def test_names_follow_plugins_then_registration_and_a_name_is_taken_once() -> None:
    load_plugins()
    registry: Registry[object] = Registry("test")
    registry.register(_Late)
    registry.register(_Early)
    assert registry.names() == ("late", "early")  # neither is of a plug-in: registration order
    assert "late" in registry and len(registry) == 2 and list(registry) == ["late", "early"]
    assert registry.register(_Late) is _Late  # again: harmless

    class Other:
        name = "late"

    with pytest.raises(ValueError, match="test renderer 'late' is already registered by _Late"):
        registry.register(Other)


def test_every_plugin_registers_something() -> None:
    load_plugins()
    modules = {
        cls.__module__.removeprefix("sipsniff.render.")
        for registry in (RENDERERS, STATS_RENDERERS, AUTH_RENDERERS)
        for cls in (registry[n] for n in registry.names())
    }
    assert modules == set(PLUGINS)
