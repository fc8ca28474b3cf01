//! Estimates with their uncertainty, from a cell's few trials.
//!
//! - A failure rate gets the Wilson score interval, which stays inside [0, 1] and
//!   keeps its coverage for the small counts a cell has (20 trials, 0 or 20 failures),
//!   where the normal interval collapses to a point.
//! - The median time to failure gets a distribution-free interval from order
//!   statistics: the ranks j and k of the sorted times whose binomial(n, 1/2)
//!   probability covers at least 95%. It needs no assumption about the distribution.
//! - When some trials survived, their times are censored at the end of the trial
//!   (the failure, if any, would have come later). The median is then the
//!   Kaplan–Meier estimate, with the interval of the times t where
//!   |S(t) − ½| ≤ 1.96 · se(S(t)) (Greenwood's variance): the set of medians the data
//!   cannot reject.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959964;

/// The Wilson score interval for `k` successes in `n` trials, 95%.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, Z95);
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// P(X ≤ k) for X ~ binomial(n, 1/2).
fn binom_half_cdf(k: i64, n: u64) -> f64 {
    if k < 0 {
        return 0.0;
    }
    // Summed in logs, so that n in the thousands does not overflow.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64; // ln C(n, 0)
    let mut sum = 0.0;
    for i in 0..=(k as u64).min(n) {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        sum += (ln_c + ln_half_n).exp();
    }
    sum.min(1.0)
}

/// The distribution-free 95% interval of the median of `sorted` (ascending), with
/// its real coverage; None for fewer than 2 values. With fewer than 6 values even
/// [min, max] covers less than 95%; the coverage says how much.
pub fn median_interval(sorted: &[f64]) -> Option<(f64, f64, f64)> {
    let n = sorted.len();
    if n < 2 {
        return None;
    }
    // The largest j with P(X < j) ≤ 2.5%: [x_(j), x_(n+1-j)] (1-based) covers
    // 1 - 2 P(X ≤ j - 1).
    let mut j = 1usize;
    while j < n / 2 && binom_half_cdf(j as i64, n as u64) <= 0.025 {
        j += 1;
    }
    let coverage = 1.0 - 2.0 * binom_half_cdf(j as i64 - 1, n as u64);
    Some((sorted[j - 1], sorted[n - j], coverage))
}

/// One trial's time: a failure at `t`, or survival until `t` (censored).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obs {
    pub t: f64,
    pub failed: bool,
}

/// The Kaplan–Meier median and its interval. `median` is None when the survival
/// curve never falls to one half (most trials survived); `hi` is None when the
/// interval's upper end is beyond the last time observed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmMedian {
    pub median: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// The survival curve at each distinct failure time: (t, S(t), se(S(t))).
pub fn kaplan_meier(obs: &[Obs]) -> Vec<(f64, f64, f64)> {
    let mut v = obs.to_vec();
    // Failures before censorings at the same time, as is conventional.
    v.sort_by(|a, b| a.t.total_cmp(&b.t).then(b.failed.cmp(&a.failed)));
    let mut at_risk = v.len() as f64;
    let (mut s, mut greenwood) = (1.0f64, 0.0f64);
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let t = v[i].t;
        let (mut d, mut c) = (0.0, 0.0);
        while i < v.len() && v[i].t == t {
            if v[i].failed {
                d += 1.0
            } else {
                c += 1.0
            }
            i += 1;
        }
        if d > 0.0 {
            s *= 1.0 - d / at_risk;
            if at_risk > d {
                greenwood += d / (at_risk * (at_risk - d));
            }
            out.push((t, s, s * greenwood.sqrt()));
        }
        at_risk -= d + c;
    }
    out
}

pub fn km_median(obs: &[Obs]) -> KmMedian {
    let curve = kaplan_meier(obs);
    let median = curve.iter().find(|(_, s, _)| *s <= 0.5).map(|(t, _, _)| *t);
    let inside: Vec<f64> = curve
        .iter()
        .filter(|(_, s, se)| (s - 0.5).abs() <= Z95 * se.max(1e-12))
        .map(|(t, _, _)| *t)
        .collect();
    // The band still holds ½ at the last failure and trials survived past it: the
    // median may lie beyond anything observed.
    let censored_after = |t: f64| obs.iter().any(|o| !o.failed && o.t >= t);
    let hi = match (median, inside.last()) {
        (None, _) => None,
        (Some(_), Some(&t)) if Some(t) == curve.last().map(|c| c.0) && censored_after(t) => None,
        (Some(m), last) => Some(last.copied().unwrap_or(m)),
    };
    KmMedian {
        median,
        lo: inside.first().copied().or(median),
        hi,
    }
}

/// Trials far outside the others: beyond Tukey's outer fences, Q1 − 3·IQR and
/// Q3 + 3·IQR, of at least 4 values. Returns the indices.
pub fn outliers(v: &[f64]) -> Vec<usize> {
    if v.len() < 4 {
        return Vec::new();
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let x = p * (s.len() - 1) as f64;
        let (i, f) = (x.floor() as usize, x.fract());
        s[i] + f * (s[(i + 1).min(s.len() - 1)] - s[i])
    };
    let (q1, q3) = (q(0.25), q(0.75));
    let iqr = q3 - q1;
    v.iter()
        .enumerate()
        .filter(|(_, x)| **x < q1 - 3.0 * iqr || **x > q3 + 3.0 * iqr)
        .map(|(i, _)| i)
        .collect()
}

/// Whether two intervals overlap.
pub fn overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_matches_published_values() {
        // Newcombe (1998), table I: 81/263 → 0.2553 to 0.3662; 0/20 → 0 to 0.1611.
        let (lo, hi) = wilson(81, 263);
        assert!(close(lo, 0.2553) && close(hi, 0.3662), "{lo} {hi}");
        let (lo, hi) = wilson(0, 20);
        assert!(close(lo, 0.0) && close(hi, 0.1611), "{lo} {hi}");
        let (lo, hi) = wilson(20, 20);
        assert!(close(lo, 0.8389) && close(hi, 1.0), "{lo} {hi}");
    }

    #[test]
    fn the_median_interval_has_its_binomial_ranks() {
        // n = 20: the 6th and 15th values, coverage 95.86%.
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let (lo, hi, cov) = median_interval(&v).unwrap();
        assert_eq!((lo, hi), (6.0, 15.0));
        assert!(close(cov, 0.9586), "{cov}");
        // n = 5: only [min, max], covering 93.75%.
        let (lo, hi, cov) = median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!((lo, hi), (1.0, 5.0));
        assert!(close(cov, 0.9375), "{cov}");
        assert_eq!(median_interval(&[1.0]), None);
    }

    #[test]
    fn kaplan_meier_without_censoring_is_the_empirical_median() {
        let obs: Vec<Obs> = [3.0, 1.0, 2.0, 4.0]
            .iter()
            .map(|&t| Obs { t, failed: true })
            .collect();
        assert_eq!(km_median(&obs).median, Some(2.0));
    }

    #[test]
    fn kaplan_meier_counts_survivors_as_censored() {
        // Three failures at 1, 2, 3 and two survivors at 10: S = 0.8, 0.6, 0.4.
        let mut obs: Vec<Obs> = [1.0, 2.0, 3.0]
            .iter()
            .map(|&t| Obs { t, failed: true })
            .collect();
        obs.extend(
            [Obs {
                t: 10.0,
                failed: false,
            }; 2],
        );
        let curve = kaplan_meier(&obs);
        assert!(close(curve[0].1, 0.8) && close(curve[1].1, 0.6) && close(curve[2].1, 0.4));
        let m = km_median(&obs);
        assert_eq!(m.median, Some(3.0));
        assert_eq!(m.hi, None, "the median may lie past the censored end");
        // Most survived: no median.
        let obs = [
            Obs {
                t: 1.0,
                failed: true,
            },
            Obs {
                t: 10.0,
                failed: false,
            },
            Obs {
                t: 10.0,
                failed: false,
            },
        ];
        assert_eq!(km_median(&obs).median, None);
    }

    #[test]
    fn only_far_values_are_outliers() {
        let v = [10.0, 11.0, 12.0, 11.5, 10.5, 100.0];
        assert_eq!(outliers(&v), [5]);
        assert!(outliers(&[1.0, 2.0, 3.0, 4.0, 5.0]).is_empty());
    }
}
