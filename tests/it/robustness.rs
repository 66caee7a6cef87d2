//! No input makes loading panic: arbitrary bytes, and damaged versions of a valid pipeline.

use proptest::prelude::*;
use stockrun::config::env::Environment;
use stockrun::config::load::{UnsetVariables, check};

const BASE: &str = include_str!("../fixtures/base.yaml");
const STOCKS: &str = include_str!("../../pipelines/stocks.yaml");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let checked = check(&bytes, &Environment::default(), UnsetVariables::Warn);
        prop_assert!(checked.pipeline.is_some() || !checked.diagnostics.is_empty());
    }

    #[test]
    fn damaged_pipelines_never_panic(
        start in 0..STOCKS.len(),
        len in 0usize..40,
        insert in "[\\{\\}\\[\\]:\"'$#|>&*!%@ a-z0-9\n-]{0,8}",
        use_base in any::<bool>(),
    ) {
        let source = if use_base { BASE } else { STOCKS };
        let start = start % source.len();
        let end = (start + len).min(source.len());
        let mut damaged = source.as_bytes()[..start].to_vec();
        damaged.extend_from_slice(insert.as_bytes());
        damaged.extend_from_slice(&source.as_bytes()[end..]);
        let env = Environment::from_pairs([("RAPIDAPI_KEY", "k")]);
        let checked = check(&damaged, &env, UnsetVariables::Deny);
        // Either it loads, or it says why, with a position for every problem in the file.
        prop_assert!(checked.pipeline.is_some() || checked.diagnostics.iter().any(|d| d.is_error()));
    }
}
