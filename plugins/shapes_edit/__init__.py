"""The trained instruction editor of the default model, built as MovieGen Edit builds one: pipeline ``shapes-edit``
(the default model whose DiT also takes the source video's latents, through new input weights that start at zero)
and editor ``shapes-instruct`` (the instruction is its text), the default of ``vgen edit VIDEO "INSTRUCTION"`` for
shapes videos. Its weights (``weights/editor.safetensors``: the new input weights and LoRA adapters, fine-tuned by
``vgen train`` on the shapes world's edit pairs: scripts/train_editor.sh) sit beside the default model's."""

from vgen.hookspecs import hookimpl


def _pipeline(**kwargs):
    from vgen_plugins.shapes_edit.pipeline import build

    return build(**kwargs)


def _editor():
    from vgen_plugins.shapes_edit.editor import InstructEditor

    return InstructEditor()


@hookimpl
def register_pipelines(register):
    register("shapes-edit", _pipeline,
             description="the default model + the source video's latents as extra input (the instruction editor)")


@hookimpl
def register_editors(register):
    register("shapes-instruct", _editor, pipeline="shapes-edit", default_for="shapes",
             description="trained instruction editor of shapes-world videos (64x64, 17 frames, 8 fps)")
