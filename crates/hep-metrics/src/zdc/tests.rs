//! Tests of the ZDC channel sums and their distances.

use super::*;

#[test]
fn channels_split_the_checkerboard_by_quadrant() {
    // 4 × 4 grid, pixel value = its index: even-parity pixels per quadrant, odd to channel 4
    let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
    let s = channel_sums(&x, [1, 4, 4]).unwrap()[0];
    // even (r + c): (0,0)=0 (1,1)=5 | (0,2)=2 (1,3)=7 | (2,0)=8 (3,1)=13 | (2,2)=10 (3,3)=15
    assert_eq!(s, [5.0, 9.0, 21.0, 25.0, 60.0]);
    assert_eq!(s.iter().sum::<f64>(), (0..16).sum::<i32>() as f64);
    // odd-sized grids: the middle row/column belongs to the upper quadrants
    assert_eq!(channel_of(2, 2, 5, 5), 3);
    assert_eq!(channel_of(1, 1, 5, 5), 0);
}

#[test]
fn w1_and_mae_are_zero_for_identical_and_shift_otherwise() {
    let x: Vec<f32> = (0..2 * 16).map(|v| (v % 5) as f32).collect();
    let w = channel_w1(&x, [2, 4, 4], &x, [2, 4, 4]).unwrap();
    assert_eq!(w.mean, 0.0);
    assert_eq!(channel_mae(&x, &x, [2, 4, 4]).unwrap(), 0.0);
    // adding one count to every pixel shifts channels 0–3 by 2 and channel 4 by 8
    let y: Vec<f32> = x.iter().map(|v| v + 1.0).collect();
    let w = channel_w1(&x, [2, 4, 4], &y, [2, 4, 4]).unwrap();
    assert_eq!(w.per_channel, [2.0, 2.0, 2.0, 2.0, 8.0]);
    assert!((w.mean - 3.2).abs() < 1e-12);
    assert!((channel_mae(&x, &y, [2, 4, 4]).unwrap() - 3.2).abs() < 1e-12);
}

#[test]
fn bad_inputs_are_errors() {
    let x = vec![0f32; 16];
    assert!(matches!(
        channel_sums(&x, [2, 4, 4]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        channel_sums(&[], [0, 4, 4]),
        Err(Error::EmptyInput { .. })
    ));
    let mut y = x.clone();
    y[3] = f32::NAN;
    assert!(matches!(
        channel_sums(&y, [1, 4, 4]),
        Err(Error::NonFinite { index: 3, .. })
    ));
    assert!(channel_w1(&x, [1, 4, 4], &x, [1, 2, 8]).is_err());
    assert!(channel_mae(&x, &x[..8], [1, 4, 4]).is_err());
}
