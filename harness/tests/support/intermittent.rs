//! plug-sim's intermittent fault as the tests predict it: the draw of
//! `late-heartbeat-sometimes` for a seed (a copy of `draws_late_heartbeat` in
//! firmware/sim/src/main.rs, a binary the tests cannot link; the tests that use it fail if
//! the two drift apart, since their expected strips and attempts follow from it).

/// Whether a plug with `seed` draws the late heartbeat (splitmix64, 3 in 10).
pub fn draws_late_heartbeat(seed: u64) -> bool {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    z % 10 < 3
}
