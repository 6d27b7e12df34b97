"""Training-free edits for any flow pipeline, registered as editors: ``flowedit`` (vgen.flow.flowedit) and
``sdedit`` (vgen.flow.renoise: the source noised to the strength's sigma, denoised under the target prompt). Both take
a source and a target prompt; neither names a model."""

from vgen.hookspecs import hookimpl


@hookimpl
def register_editors(register):
    from vgen_plugins.flow_edit.editors import FlowEdit, SDEdit

    register("flowedit", FlowEdit, description="FlowEdit: target- minus source-prompt velocities, no inversion")
    register("sdedit", SDEdit, description="SDEdit: noise the source to a sigma, denoise under the target prompt")
