"""Every item of the zoo cites the equation number of its formula, or says plainly why it does not.

Issue 18 asks each objective, advantage estimator, rollout correction, aggregation mode and entropy control for a
docstring formula with the paper's reference and equation number. A docstring passes when it cites an equation as
"Eq. (N)", or states "equation number not confirmed" (no source with the number was read; what was checked is in
docs/algorithms.md's source table), or "stated unnumbered in <source>" (the source numbers no equations). The check reads the item's own docstring; an
objective may instead rely on its module's docstring when that module registers no other objective.
"""
import inspect
import re

import pytest

import algorithms
from algorithms import advantages, aggregation, base, entropy_control, off_policy

CITATION = re.compile(r"Eq\. \(\d+(?:\.\d+)?\)|equation number not confirmed|stated unnumbered", re.IGNORECASE)


def cites_equation(doc: str | None) -> bool:
    return bool(doc) and CITATION.search(doc) is not None


def objective_doc(name: str) -> str:
    """The class docstring, plus the module's when the module registers this objective alone."""
    cls = algorithms.get_class(name)
    module = inspect.getmodule(cls)
    siblings = [n for n in algorithms.names() if inspect.getmodule(algorithms.get_class(n)) is module]
    return (cls.__doc__ or "") + ("\n" + (module.__doc__ or "") if siblings == [name] else "")


BUILTIN_OBJECTIVES = [n for n in algorithms.names()
                      if algorithms.get_class(n).__module__.startswith("algorithms.objectives.")]


@pytest.mark.parametrize("name", BUILTIN_OBJECTIVES)
def test_objective_cites_its_equation(name):
    assert cites_equation(objective_doc(name)), f"objective {name!r}: no 'Eq. (N)' nor a stated reason"


@pytest.mark.parametrize("name", advantages.names())
def test_advantage_estimator_cites_its_equation(name):
    doc = advantages._get(name).__doc__
    assert cites_equation(doc), f"advantage estimator {name!r}: no 'Eq. (N)' nor a stated reason in {doc!r}"


@pytest.mark.parametrize("name", off_policy.names())
def test_rollout_correction_cites_its_equation(name):
    doc = off_policy._get(name).fn.__doc__
    assert cites_equation(doc), f"rollout correction {name!r}: no 'Eq. (N)' nor a stated reason in {doc!r}"


@pytest.mark.parametrize("mode", aggregation.AGG_MODES)
def test_aggregation_mode_cites_its_equation(mode):
    doc = aggregation._MODES[mode].__doc__
    assert cites_equation(doc), f"loss_agg_mode {mode!r}: no 'Eq. (N)' nor a stated reason in {doc!r}"


# The entropy controls have no registry: the forking-token selection (Algorithm.entropy_top_q) and Skywork-OR1's
# controller, whose module holds nothing else.
@pytest.mark.parametrize("doc", [base.high_entropy_tokens.__doc__,
                                 (entropy_control.AdaptiveEntropyCoefficient.__doc__ or "") + "\n"
                                 + (entropy_control.__doc__ or "")],
                         ids=["forking-tokens", "adaptive-entropy-coef"])
def test_entropy_control_cites_its_equation(doc):
    assert cites_equation(doc), f"entropy control: no 'Eq. (N)' nor a stated reason in {doc!r}"


def test_the_check_rejects_a_formula_without_a_number():
    assert not cites_equation("loss = max(-r A, -clip(r) A)   (Schulman et al. 2017)")
    assert not cites_equation("see Eq. 7")            # the number must be written as Eq. (N)
    assert not cites_equation(None)
    assert cites_equation("L^CLIP (Schulman et al. 2017, Eq. (7))")
    assert cites_equation("Equation number not confirmed: the paper's text was not available")
    assert cites_equation("stated unnumbered in the authors' blog")
