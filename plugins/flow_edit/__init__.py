"""Training-free edits for any flow pipeline, registered as editors: ``flowedit`` (vgen.flow.flowedit) and
``sdedit`` (vgen.flow.renoise: the source noised to the strength's sigma, denoised under the target prompt). Both take
a source and a target prompt; neither names a model."""

from vgen.hookspecs import hookimpl


def _editor(cls_name: str):
    def factory():  # torch and the editors load only when an edit runs, not at every start-up's plugin scan
        from vgen_plugins.flow_edit import editors

        return getattr(editors, cls_name)()

    return factory


@hookimpl
def register_editors(register):
    register("flowedit", _editor("FlowEdit"), description="FlowEdit: target- minus source-prompt velocities, no inversion")
    register("sdedit", _editor("SDEdit"), description="SDEdit: noise the source to a sigma, denoise under the target prompt")
