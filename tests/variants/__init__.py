"""Legitimate backprops written other ways (issue 12, "verdicts right both ways").

Exact-formula variants — a per-sample loop, einsum everywhere, sums in reversed order, 1/m
applied early or at the end, g' taken from A — compute the true gradient with other roundings:
the harness must pass them with no warning. Precision-choice variants — softplus as
log(1 + exp(z)), tanh through exp, bce through a clipped dJ/dA, g' at a jittered point — are
right formulas that lose relative accuracy somewhere: they must pass, may warn (imprecise
entries), and fail under ``strict`` exactly where they warn. `tests/test_variants.py` runs them.

Each module is self-contained (the worker loads it by path) and declares ``supports``.
"""

#: Module name -> kind: "exact" (passes, no warnings) or "precision" (passes, may warn).
VARIANTS = {
    "per_sample_loop": "exact",
    "einsum_everywhere": "exact",
    "reversed_sums": "exact",
    "inv_m_early": "exact",
    "divide_m_at_end": "exact",
    "g_prime_from_a": "exact",
    "softplus_log_exp": "precision",
    "tanh_through_exp": "precision",
    "bce_clipped_dj_da": "precision",
    "jittered_g_prime": "precision",
}
