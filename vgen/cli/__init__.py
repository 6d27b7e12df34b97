"""The ``vgen`` command: a typer app whose subcommands come from the same ``register_commands`` hook plugins use.

``main()`` turns errors into exit codes: a UserError (or a usage error) prints one line and exits 2, any other
exception prints one line and exits 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys

import click
import typer

from vgen import __version__, console

try:  # newer typer vendors its own click; catch the exceptions of both
    from typer._click import exceptions as _tce
except ImportError:  # pragma: no cover - older typer
    _tce = click.exceptions


def _exc(name: str) -> tuple[type, ...]:
    return tuple({getattr(click.exceptions, name), getattr(_tce, name, getattr(click.exceptions, name))})

app = typer.Typer(
    name="vgen",
    help="Text-to-video toolkit: curate, train, sample and export video models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool):
    if value:
        typer.echo(f"vgen {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only errors and results."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    console.state.debug = debug or console.state.debug
    console.state.quiet = quiet


def build_app() -> typer.Typer:
    """Attach every plugin's commands to the app, once: first vgen's own command modules (this package, registered
    here rather than by the plugin manager so that library imports of vgen never import the CLI), then the plugins'."""
    from vgen import plugins

    if not getattr(app, "_vgen_built", False):
        pm = plugins.load_plugins()
        own = [name for name in plugins.package_modules([__name__]) if _is_command_module(name)]
        for name in own:
            if not pm.has_plugin(name):
                plugins.register_module(name, plugins.BUILTIN, lambda m=name: importlib.import_module(m))
        impls = pm.hook.register_commands.get_hookimpls()
        for impl in sorted(impls, key=lambda i: i.plugin_name not in own):  # built-in commands first
            before = _command_paths(app)
            try:
                impl.function(app=app)
            except Exception as exc:
                plugins.fail(impl.plugin_name, f"register_commands: {type(exc).__name__}: {exc}")
            plugins.commands[impl.plugin_name] = sorted(_command_paths(app) - before)  # shown by `vgen plugins`
        app._vgen_built = True
    return app


def _is_command_module(name: str) -> bool:
    """A module of this package that adds commands (not a helper such as ``groups``); one that fails to import is
    registered anyway, so that its failure is reported."""
    try:
        return hasattr(importlib.import_module(name), "register_commands")
    except Exception:
        return True


def _command_paths(typer_app: typer.Typer, prefix: str = "") -> set[str]:
    """Every command of ``typer_app`` by its full name ("sample", "eval shapes")."""
    paths = {prefix + (c.name or c.callback.__name__.replace("_", "-")) for c in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            paths |= _command_paths(group.typer_instance, f"{prefix}{group.name} ")
    return paths


def _report_plugin_failures() -> None:
    """Each plugin failure once, one stderr line each (``vgen plugins`` lists them all)."""
    from vgen import plugins, registry

    if plugins._loaded:
        registry.backends()  # collecting the backends finds names registered twice (it only calls the hooks)
    for failure in plugins.unreported():
        console.warn(failure.line())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console.state.debug = "--debug" in argv
    from vgen.errors import UserError

    try:
        build_app()
        command = typer.main.get_command(app)
        rv = command.main(args=argv, prog_name="vgen", standalone_mode=False)
        # typer turns Exit(code) and Ctrl-C (Exit(130)) into a returned code when not standalone
        return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
    except _exc("Exit") as exc:
        return exc.exit_code
    except _exc("Abort"):
        console.error("aborted")
        return 130
    except KeyboardInterrupt:
        console.error("interrupted")
        return 130
    except _exc("UsageError") as exc:
        if console.state.debug:
            raise
        console.error(exc.format_message().replace("\n", " "))
        return 2
    except _exc("ClickException") as exc:
        if console.state.debug:
            raise
        console.error(exc.format_message().replace("\n", " "))
        return exc.exit_code
    except UserError as exc:
        if console.state.debug:
            raise
        console.error(str(exc).replace("\n", " "))
        return exc.exit_code
    except Exception as exc:
        if console.state.debug:
            raise
        console.error(f"internal error: {type(exc).__name__}: {exc}".replace("\n", " ") + " (rerun with --debug)")
        return 1
    finally:
        _report_plugin_failures()


def run() -> None:
    sys.exit(main())
