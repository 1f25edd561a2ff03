"""unlearning/scoring.py's interval and held-out figures, on hand-computed cases."""
import math

import pytest

from unlearning.scoring import (_hanley_mcneil_variance, best_balanced_accuracy, delong_ci, delong_variance,
                                heldout_balanced_accuracy, membership_scores, roc_auc, roc_auc_ci)

Z95 = 1.959963984540054


def test_delong_three_against_three_by_hand():
    # members .9 .8 .4 beat 3, 3, 2 of the non-members .5 .3 .1: V10 = 1, 1, 2/3; V01 = 2/3, 1, 1; AUC 8/9;
    # var(V10) = var(V01) = (1/81 + 1/81 + 4/81) / 2 = 1/27; DeLong variance 1/27/3 + 1/27/3 = 2/81
    m, n = [0.9, 0.8, 0.4], [0.5, 0.3, 0.1]
    assert roc_auc(m, n) == pytest.approx(8 / 9)
    assert delong_variance(m, n) == pytest.approx(2 / 81)
    lo, hi = delong_ci(m, n)
    assert lo == pytest.approx(8 / 9 - Z95 * math.sqrt(2) / 9) and hi == 1.0  # 0.581; 1.197 clipped to 1
    # the other direction gives the mirror image
    assert delong_ci([-v for v in m], [-v for v in n], higher_is_member=False) == pytest.approx((lo, hi))


def test_delong_ties_count_half():
    # 1 member at 1, non-members 1 and 0: psi = ½, 1 -> AUC ¾; V10 one value (no variance), V01 = ½, 1 -> var ⅛
    assert roc_auc([1], [1, 0]) == 0.75
    assert delong_variance([1], [1, 0]) == pytest.approx(0.125 / 2)


def test_auc_interval_of_perfect_separation_is_not_a_point():
    lo, hi = roc_auc_ci([4, 5, 6], [1, 2, 3])
    assert hi == 1.0 and 0.0 < lo < 1.0
    assert delong_ci([4, 5, 6], [1, 2, 3]) == (1.0, 1.0)  # why the report does not use DeLong's
    # the lower end solves (A − 1)² = z²·V(A) and rises with the number of scores
    assert (lo - 1) ** 2 == pytest.approx(Z95 ** 2 * _hanley_mcneil_variance(lo, 3, 3), rel=1e-6)
    lo30, _ = roc_auc_ci(range(30, 60), range(30))
    assert lo < lo30 < 1.0
    # mirrored scores give the mirrored interval
    assert roc_auc_ci([1, 2, 3], [4, 5, 6]) == pytest.approx((0.0, 1 - lo))


def test_auc_interval_contains_the_estimate_and_is_symmetric_at_a_half():
    lo, hi = roc_auc_ci([1, 2, 3], [1, 2, 3])
    assert lo < 0.5 < hi and lo == pytest.approx(1 - hi)
    lo, hi = roc_auc_ci([0.9, 0.8, 0.4], [0.5, 0.3, 0.1])
    assert lo < 8 / 9 < hi < 1.0
    with pytest.raises(ValueError, match="confidence"):
        roc_auc_ci([1], [0], confidence=1.0)


def test_heldout_balanced_accuracy_can_fall_below_a_half():
    # folds by position (i mod 2): fold 0 = members 2, 3 / non-members 12, 13; fold 1 = members 10, 11 /
    # non-members 4, 5. Fold 0 is decided by fold 1's threshold 10 (moved halfway to 5: 7.5): both members missed,
    # both non-members called members. Fold 1 by fold 0's (members below non-members: "everyone", threshold 2): members hit, non-members
    # called members. TPR 2/4, TNR 0/4 -> 0.25; in-sample the best threshold gives 0.5
    m, n = [2, 10, 3, 11], [12, 4, 13, 5]
    assert heldout_balanced_accuracy(m, n, folds=2) == 0.25
    assert best_balanced_accuracy(m, n)[0] == 0.5
    # the reversed direction is the same decision on negated scores
    assert heldout_balanced_accuracy([-v for v in m], [-v for v in n], higher_is_member=False, folds=2) == 0.25


def test_heldout_balanced_accuracy_by_hand_three_folds():
    # fold 0: threshold 4 (from 4, 0 vs 2, 1), halfway to 2: 3 -> member 5 hit, non-member 3 called member;
    # fold 1: 5 halfway to 3: 4 -> member 4 hit, 2 kept out; fold 2: 4 halfway to 3: 3.5 -> member 0 missed, 1 kept
    # out. TPR 2/3, TNR 2/3 -> 2/3
    assert heldout_balanced_accuracy([5, 4, 0], [3, 2, 1], folds=3) == pytest.approx(2 / 3)
    assert best_balanced_accuracy([5, 4, 0], [3, 2, 1])[0] == pytest.approx(5 / 6)
    assert math.isnan(heldout_balanced_accuracy([1], [0, 2]))
    with pytest.raises(ValueError, match="folds"):
        heldout_balanced_accuracy([1, 2], [0, 3], folds=1)


def test_membership_scores_carries_both_balanced_accuracies_and_the_interval():
    s = membership_scores([1, 2, 3], [10, 11, 12], higher_is_member=False)
    assert s["roc_auc"] == 1.0 and s["roc_auc_ci"][1] == 1.0 and s["roc_auc_ci"][0] < 1.0
    assert s["balanced_accuracy"] == 1.0 and s["balanced_accuracy_heldout"] == 1.0
    assert membership_scores([1], [0])["balanced_accuracy_heldout"] is None
