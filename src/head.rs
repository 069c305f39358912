//! The classifier head on top of frozen features: dense layers (optionally with BatchNorm after
//! the first and dropout), then one logit (binary) or one per class.

use burn::module::Param;
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig,
};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

/// How the dense kernels start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// The tutorial's: first kernel uniform in [0, 1), the others Glorot normal, zero biases.
    Tutorial,
    /// He (Kaiming) uniform kernels for ReLU layers, zero biases.
    Standard,
}

/// Shape of a head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadShape {
    /// Input width (the encoder's hidden size).
    pub input: usize,
    /// Widths of the ReLU layers; empty for a linear model.
    pub hidden: Vec<usize>,
    /// BatchNorm after the first hidden layer (the tutorial's).
    pub batch_norm: bool,
    /// Dropout after each hidden layer.
    pub dropout: f64,
    /// Number of classes; 2 gives a single logit, unless `multi_label`.
    pub classes: usize,
    /// Labels are independent (a text may have several): one sigmoid output per label.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_label: bool,
}

/// Most classes a head may have: a crafted file or setting cannot ask for more.
pub const MAX_CLASSES: usize = 1_000;
/// Widest input or hidden layer of a head (the widest BERTs are a few thousand wide).
pub const MAX_WIDTH: usize = 16_384;
/// Most hidden layers of a head (the tutorial's has 3).
pub const MAX_HIDDEN_LAYERS: usize = 8;

/// Why these hidden layers and dropout cannot make a head, if they cannot: widths of 0 make
/// empty matrices, huge ones allocate without bound, and burn's `Dropout` panics outside
/// [0, 1).
pub fn hidden_problem(hidden: &[usize], dropout: f64) -> Option<String> {
    if hidden.len() > MAX_HIDDEN_LAYERS {
        return Some(format!(
            "{} hidden layers; at most {MAX_HIDDEN_LAYERS} are allowed",
            hidden.len()
        ));
    }
    if let Some(width) = hidden.iter().find(|w| !(1..=MAX_WIDTH).contains(*w)) {
        return Some(format!(
            "a hidden layer of width {width}; widths must be between 1 and {MAX_WIDTH}"
        ));
    }
    if !(dropout.is_finite() && (0.0..1.0).contains(&dropout)) {
        return Some(format!(
            "dropout {dropout}; it must be at least 0 and below 1"
        ));
    }
    None
}

/// Logits per example for a task of `classes` classes: one sigmoid output for two classes,
/// else one softmax output per class. The one place this rule lives; the page asks for it.
pub fn outputs_for(classes: usize) -> usize {
    if classes == 2 { 1 } else { classes }
}

impl HeadShape {
    /// Logits per example: 1 for binary, else one per class (one per label when multi-label).
    pub fn outputs(&self) -> usize {
        if self.multi_label {
            self.classes
        } else {
            outputs_for(self.classes)
        }
    }

    /// Logits → probabilities: a sigmoid per output (binary, or multi-label), else a softmax.
    pub fn probabilities(&self, logits: Tensor<2>) -> Tensor<2> {
        if self.multi_label {
            burn::tensor::activation::sigmoid(logits)
        } else {
            crate::train::probabilities(logits, self.classes)
        }
    }

    /// Why [`Head::new`] cannot build this shape, if it cannot (see [`hidden_problem`]).
    pub fn problem(&self) -> Option<String> {
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return Some(format!(
                "{} classes; a head needs between 2 and {MAX_CLASSES}",
                self.classes
            ));
        }
        if !(1..=MAX_WIDTH).contains(&self.input) {
            return Some(format!(
                "an input width of {}; it must be between 1 and {MAX_WIDTH}",
                self.input
            ));
        }
        hidden_problem(&self.hidden, self.dropout)
    }

    /// Weights and biases of the dense layers: what a file of this head must hold at least.
    /// `None` on overflow, which no valid shape reaches.
    pub fn parameters(&self) -> Option<usize> {
        let mut widths = vec![self.input];
        widths.extend(&self.hidden);
        widths.push(self.outputs());
        widths.windows(2).try_fold(0usize, |sum, w| {
            sum.checked_add(w[0].checked_mul(w[1])?.checked_add(w[1])?)
        })
    }
}

/// The head module.
#[derive(Module, Debug)]
pub struct Head {
    pub(crate) hidden: Vec<Linear>,
    pub(crate) norm: Option<BatchNorm>,
    pub(crate) dropout: Dropout,
    pub(crate) output: Linear,
}

fn dense(d_in: usize, d_out: usize, init: Initializer, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_initializer(init)
        .init(device);
    linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    linear
}

impl Head {
    /// A freshly initialized head. Seed the device's RNG first for repeatable runs. The shape
    /// must pass [`HeadShape::problem`] (burn panics on a dropout of 1 or more).
    pub fn new(shape: &HeadShape, init: Init, device: &Device) -> Self {
        let glorot = Initializer::XavierNormal { gain: 1.0 };
        let he = Initializer::KaimingUniform {
            gain: std::f64::consts::SQRT_2,
            fan_out_only: false,
        };
        let mut widths = vec![shape.input];
        widths.extend(&shape.hidden);
        let hidden: Vec<Linear> = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let initializer = match (init, i) {
                    (Init::Tutorial, 0) => Initializer::Uniform { min: 0.0, max: 1.0 },
                    (Init::Tutorial, _) => glorot.clone(),
                    (Init::Standard, _) => he.clone(),
                };
                dense(w[0], w[1], initializer, device)
            })
            .collect();
        let last = *widths.last().unwrap_or(&shape.input);
        let out_init = match init {
            Init::Tutorial => glorot,
            Init::Standard => Initializer::XavierUniform { gain: 1.0 },
        };
        // Keras' BatchNormalization defaults: momentum 0.99 (burn counts the other way), eps 1e-3.
        let norm = (shape.batch_norm && !shape.hidden.is_empty()).then(|| {
            BatchNormConfig::new(shape.hidden[0])
                .with_momentum(0.01)
                .with_epsilon(1e-3)
                .init(device)
        });
        Self {
            hidden,
            norm,
            dropout: DropoutConfig::new(shape.dropout).init(),
            output: dense(last, shape.outputs(), out_init, device),
        }
    }

    /// `[n, input]` features → `[n, outputs]` logits.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let mut x = x;
        for (i, layer) in self.hidden.iter().enumerate() {
            x = relu(layer.forward(x));
            if i == 0
                && let Some(norm) = &self.norm
            {
                x = norm.forward(x);
            }
            x = self.dropout.forward(x);
        }
        self.output.forward(x)
    }

    /// Multiplies the output layer's weights and biases by `factor`: its logits by `factor`.
    /// Dividing logits by a fitted temperature is this with `1 / T` ([`crate::calibration`]), so
    /// a calibrated head, its file and its ONNX export need nothing more.
    pub fn scale_output(&mut self, factor: f32) {
        self.output.weight = self.output.weight.clone().map(|w| w.mul_scalar(factor));
        if let Some(bias) = self.output.bias.take() {
            self.output.bias = Some(bias.map(|b| b.mul_scalar(factor)));
        }
    }
}
