"""The shapes world: a procedural audio-visual world whose videos can be scored against their prompts.

``world`` samples, renders, sonifies and captions scenes; ``prompts`` parses and draws grammar prompts; ``score``
scores a video against a prompt; ``dataset`` writes data sets (``vgen datasets shapes``); ``evaluate`` scores folders
(``vgen eval shapes``); ``compare`` compares two reports (``vgen eval compare``); ``commands`` holds those three
commands. The names below load lazily so that plugin discovery stays cheap.
"""

from vgen.hookspecs import hookimpl

_EXPORTS = {
    "Scene": "world", "ShapeObject": "world", "sample_scene": "world", "render": "world", "render_audio": "world",
    "caption": "world", "parse_prompt": "prompts", "random_prompts": "prompts", "score_video": "score",
}


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def register_commands(app):
    from vgen_plugins.shapes.commands import register

    register(app)


__all__ = list(_EXPORTS)
