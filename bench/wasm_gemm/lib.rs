//! Two exports for bench/wasm_gemm/run.mjs: `setup` makes row-major f32 matrices A [m, k],
//! B [k, n] and C [m, n]; `run` computes C = A·B `reps` times, called as burn-flex calls gemm
//! (no parallelism, C overwritten). Only `run` is timed.

use std::cell::RefCell;

struct Matrices {
    m: usize,
    k: usize,
    n: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

thread_local! {
    static MATRICES: RefCell<Option<Matrices>> = const { RefCell::new(None) };
}

fn filled(len: usize, modulus: usize) -> Vec<f32> {
    (0..len).map(|i| (i % modulus) as f32 * 0.1).collect()
}

/// Replaces the matrices with new ones of these shapes (the old ones are freed).
#[no_mangle]
pub extern "C" fn setup(m: usize, k: usize, n: usize) {
    MATRICES.with_borrow_mut(|matrices| {
        *matrices = None;
        *matrices = Some(Matrices {
            m,
            k,
            n,
            a: filled(m * k, 7),
            b: filled(k * n, 5),
            c: vec![0.0; m * n],
        });
    });
}

/// C = A·B, `reps` times; returns one value of C so the work cannot be dropped.
#[no_mangle]
pub extern "C" fn run(reps: usize) -> f32 {
    MATRICES.with_borrow_mut(|matrices| {
        let Some(Matrices { m, k, n, a, b, c }) = matrices.as_mut() else {
            panic!("call setup first");
        };
        let (m, k, n) = (*m, *k, *n);
        for _ in 0..reps {
            // SAFETY: a, b and c hold exactly the [m, k], [k, n] and [m, n] row-major matrices
            // the strides describe.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    0.0f32,
                    1.0f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        c[0]
    })
}
