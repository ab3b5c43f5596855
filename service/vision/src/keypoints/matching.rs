//! Nearest-neighbour matching of binary descriptors by Hamming distance, with Lowe's ratio test.

use super::brief::Descriptor;

/// A reference keypoint matched to a query keypoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pair {
    pub reference: usize,
    pub query: usize,
    pub distance: u32,
}

/// The ratio test: the nearest must be nearer than `RATIO_NUMERATOR / RATIO_DENOMINATOR` of the
/// second nearest (0.8, Lowe's value).
const RATIO_NUMERATOR: u32 = 4;
const RATIO_DENOMINATOR: u32 = 5;

/// For each reference descriptor its nearest query descriptor, kept when clearly nearer than the
/// second nearest; a query descriptor claimed by several keeps the nearest of them (of equals, the
/// first).
pub(super) fn ratio_matches(reference: &[Descriptor], query: &[Descriptor]) -> Vec<Pair> {
    if query.len() < 2 {
        return Vec::new();
    }
    let nearest = nearest_two(reference, query);
    let mut claimed: Vec<Option<Pair>> = vec![None; query.len()];
    for (index, found) in nearest.into_iter().enumerate() {
        if found.best * RATIO_DENOMINATOR >= found.second * RATIO_NUMERATOR {
            continue;
        }
        let pair = Pair { reference: index, query: found.index, distance: found.best };
        let Some(slot) = claimed.get_mut(found.index) else { continue };
        if slot.is_none_or(|known| pair.distance < known.distance) {
            *slot = Some(pair);
        }
    }
    let mut pairs: Vec<Pair> = claimed.into_iter().flatten().collect();
    pairs.sort_by_key(|pair| pair.reference);
    pairs
}

/// The nearest query descriptor of one reference descriptor, its distance and the second nearest's.
struct Nearest {
    index: usize,
    best: u32,
    second: u32,
}

fn nearest_two(reference: &[Descriptor], query: &[Descriptor]) -> Vec<Nearest> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has the POPCNT instruction.
            return unsafe { nearest_two_popcnt(reference, query) };
        }
    }
    nearest_two_portable(reference, query)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn nearest_two_popcnt(reference: &[Descriptor], query: &[Descriptor]) -> Vec<Nearest> {
    nearest_two_portable(reference, query)
}

/// Four reference descriptors are searched for at once, so that each query descriptor is loaded
/// once for four distances.
#[inline(always)]
fn nearest_two_portable(reference: &[Descriptor], query: &[Descriptor]) -> Vec<Nearest> {
    let distance = |r: &Descriptor, q: &Descriptor| {
        (r[0] ^ q[0]).count_ones()
            + (r[1] ^ q[1]).count_ones()
            + (r[2] ^ q[2]).count_ones()
            + (r[3] ^ q[3]).count_ones()
    };
    let mut nearest = Vec::with_capacity(reference.len());
    for block in reference.chunks(4) {
        let mut found: [Nearest; 4] = std::array::from_fn(|_| Nearest { index: 0, best: u32::MAX, second: u32::MAX });
        for (index, q) in query.iter().enumerate() {
            for (found, r) in found.iter_mut().zip(block) {
                let distance = distance(r, q);
                if distance < found.second {
                    if distance < found.best {
                        *found = Nearest { index, best: distance, second: found.best };
                    } else {
                        found.second = distance;
                    }
                }
            }
        }
        nearest.extend(found.into_iter().take(block.len()));
    }
    nearest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_bits(bits: &[usize]) -> Descriptor {
        let mut d = [0u64; 4];
        for &bit in bits {
            d[bit / 64] |= 1 << (bit % 64);
        }
        d
    }

    #[test]
    fn clear_nearest_neighbours_match_and_ambiguous_ones_do_not() {
        let query =
            [with_bits(&[]), with_bits(&(0..100).collect::<Vec<_>>()), with_bits(&(150..256).collect::<Vec<_>>())];
        let reference = [
            with_bits(&[1, 2, 3]),                      // 3 from query 0, 97 from query 1: a match
            with_bits(&(0..50).collect::<Vec<_>>()),    // 50 from 0 and from 1: ambiguous
            with_bits(&(150..250).collect::<Vec<_>>()), // 6 from query 2
            with_bits(&(0..98).collect::<Vec<_>>()),    // 2 from query 1
        ];
        let pairs = ratio_matches(&reference, &query);
        assert_eq!(
            pairs,
            [
                Pair { reference: 0, query: 0, distance: 3 },
                Pair { reference: 2, query: 2, distance: 6 },
                Pair { reference: 3, query: 1, distance: 2 }
            ]
        );
    }

    #[test]
    fn a_query_descriptor_claimed_twice_keeps_the_nearest() {
        let query = [with_bits(&[]), with_bits(&(0..200).collect::<Vec<_>>())];
        let reference = [with_bits(&[5, 6]), with_bits(&[7])];
        assert_eq!(ratio_matches(&reference, &query), [Pair { reference: 1, query: 0, distance: 1 }]);
    }

    #[test]
    fn the_ratio_is_strict_and_too_few_descriptors_match_nothing() {
        // Distances 8 and 10: 8 < 0.8 * 10 fails by equality.
        let query = [with_bits(&(0..8).collect::<Vec<_>>()), with_bits(&(100..110).collect::<Vec<_>>())];
        assert!(ratio_matches(&[with_bits(&[])], &query).is_empty());
        assert!(ratio_matches(&[with_bits(&[])], &query[..1]).is_empty());
        assert!(ratio_matches(&[], &query).is_empty());
    }

    #[test]
    fn popcount_paths_agree() {
        let descriptors: Vec<Descriptor> = (0..50u64)
            .map(|i| std::array::from_fn(|k| (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(k as u32 * 13)))
            .collect();
        let fast: Vec<(usize, u32, u32)> =
            nearest_two(&descriptors[..20], &descriptors[20..]).iter().map(|n| (n.index, n.best, n.second)).collect();
        let portable: Vec<(usize, u32, u32)> = nearest_two_portable(&descriptors[..20], &descriptors[20..])
            .iter()
            .map(|n| (n.index, n.best, n.second))
            .collect();
        assert_eq!(fast, portable);
    }
}
