//! One export for bench/wasm_gemm/run.mjs: `reps` products C = A·B of row-major f32
//! matrices, called as burn-flex calls gemm (no parallelism, C overwritten).

use std::alloc::{alloc_zeroed, Layout};

fn matrix(len: usize, modulus: usize) -> *mut f32 {
    let layout = Layout::array::<f32>(len).expect("matrix size");
    // SAFETY: a fresh allocation of `len` f32s, filled before use; never freed (the module
    // is thrown away after the benchmark).
    unsafe {
        let ptr = alloc_zeroed(layout) as *mut f32;
        for i in 0..len {
            *ptr.add(i) = (i % modulus) as f32 * 0.1;
        }
        ptr
    }
}

/// [m, k] × [k, n], `reps` times; returns one output value so the work cannot be dropped.
#[no_mangle]
pub extern "C" fn run(m: usize, k: usize, n: usize, reps: usize) -> f32 {
    let (a, b, c) = (matrix(m * k, 7), matrix(k * n, 5), matrix(m * n, 1));
    // SAFETY: the three buffers hold exactly the [m, k], [k, n] and [m, n] row-major
    // matrices the strides describe.
    unsafe {
        for _ in 0..reps {
            gemm::gemm(
                m,
                n,
                k,
                c,
                1,
                n as isize,
                false,
                a,
                1,
                k as isize,
                b,
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
        *c
    }
}
