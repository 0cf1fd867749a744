//! Unit tests for `error`: message style and the candle seam.

use candle_core::{DType, Shape};

use super::*;

#[test]
fn messages_are_lowercase_without_trailing_period() {
    let errors = [
        Error::ShapeMismatch {
            op: "masked_sum",
            arg: "mask",
            expected: "[B, N] = [2, 3]".to_string(),
            found: Shape::from((2, 4)),
        },
        Error::DTypeMismatch {
            op: "masked_sum",
            arg: "x",
            expected: "f32 or f64",
            found: DType::U32,
        },
        Error::ProbabilityOutOfRange {
            op: "logits_from_probs",
            index: 3,
            value: 1.5,
        },
        Error::NotANumber {
            op: "DiracMixture::nll",
            arg: "x",
            index: 7,
        },
        Error::InvalidMultiplicity {
            op: "mask_from_multiplicity",
            jet: 1,
            value: 31.0,
            max: 30,
        },
    ];
    for e in &errors {
        let msg = e.to_string();
        assert!(!msg.ends_with('.'), "{msg}");
        // After the `op:` prefix (an identifier, e.g. `DiracMixture::nll`) the text is lowercase.
        let text = msg.split_once(": ").expect("op prefix").1;
        assert!(
            text.chars().next().is_some_and(|c| !c.is_uppercase()),
            "{msg}"
        );
    }
    assert_eq!(
        errors[2].to_string(),
        "logits_from_probs: probability 1.5 at flat index 3 lies outside [0, 1]"
    );
}

#[test]
fn converts_to_candle_and_back() {
    let e = Error::NotANumber {
        op: "op",
        arg: "x",
        index: 0,
    };
    let c = e.into_candle();
    assert!(c.to_string().contains("holds NaN at flat index 0"), "{c}");
    let back: Error = candle_core::Error::Msg("boom".into()).into();
    assert!(matches!(back.into_candle(), candle_core::Error::Msg(m) if m == "boom"));
}
