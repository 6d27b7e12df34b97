"""First-party flow-matching solvers and sigma schedules (``vgen plugins`` lists them).

They implement ``vgen.contract.Sampler`` (subclasses of ``vgen.contract.FlowSampler``) and ``vgen.contract.Schedule``.
The math lives in ``schedules.py`` and ``solvers.py``; this module stays import-light.
"""

from vgen.hookspecs import hookimpl


def _schedule(name):
    def factory():
        from vgen_plugins.samplers import schedules

        return getattr(schedules, name)

    return factory


def _sampler(cls_name):
    def factory(**options):
        from vgen_plugins.samplers import solvers

        return getattr(solvers, cls_name)(**options)

    return factory


@hookimpl
def register_schedules(register):
    register("shifted", _schedule("shifted"), uses_shift=True,
             description="HunyuanVideo/SD3: linspace(1,0) warped by s*t/(1+(s-1)t); --shift s (1 = linear)")
    register("linear-quadratic", _schedule("linear_quadratic"), uses_shift=False,
             description="MovieGen: first half of the steps = 1000-step linear schedule, rest quadratic to 0")
    register("linear", _schedule("linear"), uses_shift=False,
             description="plain linspace(1, 0, steps+1); ignores --shift")


@hookimpl
def register_samplers(register):
    register("flow-euler", _sampler("FlowEuler"), order=1,
             description="flow-matching Euler: x += (sigma_next - sigma) * v; 1 model call per step")
    register("flow-heun", _sampler("FlowHeun"), order=2,
             description="flow-matching Heun (2nd order, trapezoid); 2 model calls per step, Euler on the last")
    register("flow-euler-stochastic", _sampler("FlowEulerStochastic"), order=1,
             description="ancestral Euler: x0 = x - sigma*v re-noised to sigma_next with fresh seeded noise; 1 call")
    register("flow-dpmpp-2m", _sampler("FlowDPMpp2M"), order=2,
             description="DPM-Solver++ 2M multistep in flow form (x0 = x - sigma*v); 1 model call per step")
