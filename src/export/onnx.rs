//! A classifier as one ONNX graph: the encoder (with any fine-tuned layers in place of the base
//! model's), the pooling, the standardization and the head, from `input_ids`,
//! `attention_mask` and `token_type_ids` (int64, `[batch, sequence]`, both dynamic) to
//! `logits` (`[batch, labels]`). The same arithmetic as `model::bert`, `model::pooling`,
//! `train::Standardizer` and `head::Head`, in ONNX operators of opset 17 that onnxruntime (and
//! so transformers.js) runs everywhere.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use prost::Message;

use super::proto::{
    AttributeProto, AttributeType, Dimension, DimensionValue, FLOAT, GraphProto, INT64, ModelProto,
    NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto,
    ValueInfoProto,
};
use crate::classifier::Classifier;
use crate::config::Activation;
use crate::encoder::{Encoder, read_f32};
use crate::error::{BertError, Result};
use crate::model::Pooling;
use crate::model::bert::BertLayer;

/// The opset whose operators the graph uses (`LayerNormalization` needs 17).
const OPSET: i64 = 17;
/// The IR version opset 17 comes with.
const IR_VERSION: i64 = 8;
/// The additive attention bias of padding, as `BertModel::mask_bias` has it.
const MASK_BIAS: f32 = -1e9;

/// Nodes and weights, added in order; every value gets a fresh name.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: usize,
}

fn attribute(name: &str, kind: AttributeType) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        i,
        ..attribute(name, AttributeType::Int)
    }
}

fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        f,
        ..attribute(name, AttributeType::Float)
    }
}

fn ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        ints: ints.to_vec(),
        ..attribute(name, AttributeType::Ints)
    }
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}

impl Graph {
    fn fresh(&mut self, stem: &str) -> String {
        self.names += 1;
        format!("{stem}_{}", self.names)
    }

    /// A float weight of `shape`.
    fn weight(&mut self, stem: &str, shape: &[usize], values: &[f32]) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            dims: dims(shape),
            data_type: FLOAT,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// A float scalar.
    fn scalar(&mut self, value: f32) -> String {
        self.weight("scalar", &[], &[value])
    }

    /// Int64 constants; `shape` `[]` for a scalar.
    fn int64s(&mut self, shape: &[usize], values: &[i64]) -> String {
        let name = self.fresh("ints");
        self.initializers.push(TensorProto {
            dims: dims(shape),
            data_type: INT64,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// One node of `op` over `inputs`; returns its output's name (`output`, or a fresh one).
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        output: Option<&str>,
    ) -> String {
        let output = output.map_or_else(|| self.fresh(&op.to_lowercase()), str::to_string);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: output.clone(),
            op_type: op.into(),
            attribute: attributes,
        });
        output
    }

    fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node(op, inputs, vec![], None)
    }

    /// `x · W + b` for burn's `Linear` (which keeps `W` as `[in, out]`, as `MatMul` wants it).
    async fn linear(&mut self, x: &str, linear: &Linear) -> Result<String> {
        let [d_in, d_out] = linear.weight.dims();
        let weight = self.weight("weight", &[d_in, d_out], &values(&linear.weight).await?);
        let product = self.op("MatMul", &[x, &weight]);
        match &linear.bias {
            Some(bias) => {
                let bias = self.weight("bias", &[d_out], &values(bias).await?);
                Ok(self.op("Add", &[&product, &bias]))
            }
            None => Ok(product),
        }
    }

    async fn layer_norm(&mut self, x: &str, norm: &LayerNorm, eps: f64) -> Result<String> {
        let width = norm.gamma.dims()[0];
        let gamma = self.weight("gamma", &[width], &values(&norm.gamma).await?);
        let beta = match &norm.beta {
            Some(beta) => values(beta).await?,
            None => vec![0.0; width],
        };
        let beta = self.weight("beta", &[width], &beta);
        Ok(self.node(
            "LayerNormalization",
            &[x, &gamma, &beta],
            vec![int("axis", -1), float("epsilon", eps as f32)],
            None,
        ))
    }

    fn activation(&mut self, x: &str, activation: Activation) -> String {
        match activation {
            // x · ½ · (1 + erf(x / √2))
            Activation::Gelu => {
                let inv_sqrt2 = self.scalar(std::f32::consts::FRAC_1_SQRT_2);
                let scaled = self.op("Mul", &[x, &inv_sqrt2]);
                let erf = self.op("Erf", &[&scaled]);
                self.half_x_one_plus(x, &erf)
            }
            // x · ½ · (1 + tanh(√(2/π) · (x + 0.044715 x³)))
            Activation::GeluTanh => {
                let square = self.op("Mul", &[x, x]);
                let cube = self.op("Mul", &[&square, x]);
                let c = self.scalar(0.044_715);
                let term = self.op("Mul", &[&cube, &c]);
                let inner = self.op("Add", &[x, &term]);
                let k = self.scalar((2.0 / std::f32::consts::PI).sqrt());
                let scaled = self.op("Mul", &[&inner, &k]);
                let tanh = self.op("Tanh", &[&scaled]);
                self.half_x_one_plus(x, &tanh)
            }
            Activation::Relu => self.op("Relu", &[x]),
        }
    }

    /// `x · ½ · (1 + t)`.
    fn half_x_one_plus(&mut self, x: &str, t: &str) -> String {
        let one = self.scalar(1.0);
        let half = self.scalar(0.5);
        let plus = self.op("Add", &[t, &one]);
        let product = self.op("Mul", &[x, &plus]);
        self.op("Mul", &[&product, &half])
    }

    /// One encoder layer, as `BertLayer::forward`.
    async fn layer(
        &mut self,
        x: &str,
        bias: &str,
        layer: &BertLayer,
        heads: usize,
        eps: f64,
        activation: Activation,
    ) -> Result<String> {
        let attention = &layer.attention;
        let width = attention.query.weight.dims()[1];
        let head_dim = width / heads;
        let split = self.int64s(&[4], &[0, 0, heads as i64, head_dim as i64]);
        let project = async |graph: &mut Self, linear: &Linear, perm: &[i64]| {
            let projected = graph.linear(x, linear).await?;
            let heads = graph.op("Reshape", &[&projected, &split]);
            Ok::<_, BertError>(graph.node("Transpose", &[&heads], vec![ints("perm", perm)], None))
        };
        let q = project(self, &attention.query, &[0, 2, 1, 3]).await?;
        let k = project(self, &attention.key, &[0, 2, 3, 1]).await?;
        let v = project(self, &attention.value, &[0, 2, 1, 3]).await?;
        let scores = self.op("MatMul", &[&q, &k]);
        let scale = self.scalar(1.0 / (head_dim as f32).sqrt());
        let scaled = self.op("Mul", &[&scores, &scale]);
        let masked = self.op("Add", &[&scaled, bias]);
        let weights = self.node("Softmax", &[&masked], vec![int("axis", -1)], None);
        let context = self.op("MatMul", &[&weights, &v]);
        let context = self.node(
            "Transpose",
            &[&context],
            vec![ints("perm", &[0, 2, 1, 3])],
            None,
        );
        let merge = self.int64s(&[3], &[0, 0, width as i64]);
        let context = self.op("Reshape", &[&context, &merge]);
        let out = self.linear(&context, &attention.output).await?;
        let residual = self.op("Add", &[&out, x]);
        let attended = self
            .layer_norm(&residual, &attention.layer_norm, eps)
            .await?;

        let hidden = self.linear(&attended, &layer.intermediate).await?;
        let hidden = self.activation(&hidden, activation);
        let out = self.linear(&hidden, &layer.output).await?;
        let residual = self.op("Add", &[&out, &attended]);
        self.layer_norm(&residual, &layer.layer_norm, eps).await
    }
}

async fn values<const D: usize>(param: &Param<Tensor<D>>) -> Result<Vec<f32>> {
    read_f32(param.val()).await
}

fn tensor_input(name: &str, elem_type: i32, shape: &[DimensionValue]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: shape
                        .iter()
                        .map(|d| Dimension {
                            value: Some(d.clone()),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// The ONNX model (serialized `ModelProto`) of `classifier` on `encoder`, which it must fit:
/// `logits` are its scores before the softmax or sigmoid. A binary head's one output `z`
/// becomes the two logits `[0, z]`, whose softmax is `[1 − σ(z), σ(z)]`, as text-classification
/// pipelines expect two labels to be scored.
pub async fn classifier_onnx(encoder: &Encoder, classifier: &Classifier) -> Result<Vec<u8>> {
    classifier.check_fits(encoder)?;
    let model = encoder.model();
    let config = encoder.config();
    let eps = config.layer_norm_eps;
    let mut g = Graph::default();

    // Embeddings: word + position + segment, then LayerNorm.
    let embeddings = &model.embeddings;
    let [vocab, width] = embeddings.word.weight.dims();
    let word_table = g.weight(
        "word_embeddings",
        &[vocab, width],
        &values(&embeddings.word.weight).await?,
    );
    let [positions, _] = embeddings.position.weight.dims();
    let position_table = g.weight(
        "position_embeddings",
        &[positions, width],
        &values(&embeddings.position.weight).await?,
    );
    let [segments, _] = embeddings.token_type.weight.dims();
    let segment_table = g.weight(
        "token_type_embeddings",
        &[segments, width],
        &values(&embeddings.token_type.weight).await?,
    );
    let words = g.op("Gather", &[&word_table, "input_ids"]);
    let shape = g.op("Shape", &["input_ids"]);
    let one_index = g.int64s(&[], &[1]);
    let length = g.op("Gather", &[&shape, &one_index]);
    let zero = g.int64s(&[], &[0]);
    let one = g.int64s(&[], &[1]);
    let position_ids = g.op("Range", &[&zero, &length, &one]);
    let positions = g.op("Gather", &[&position_table, &position_ids]);
    let segments = g.op("Gather", &[&segment_table, "token_type_ids"]);
    let sum = g.op("Add", &[&words, &positions]);
    let sum = g.op("Add", &[&sum, &segments]);
    let mut x = g.layer_norm(&sum, &embeddings.layer_norm, eps).await?;

    // The attention bias: 0 for tokens, MASK_BIAS for padding, `[batch, 1, 1, sequence]`.
    let mask = g.node(
        "Cast",
        &["attention_mask"],
        vec![int("to", FLOAT as i64)],
        None,
    );
    let one_f = g.scalar(1.0);
    let padding = g.op("Sub", &[&one_f, &mask]);
    let big = g.scalar(MASK_BIAS);
    let bias = g.op("Mul", &[&padding, &big]);
    let axes = g.int64s(&[2], &[1, 2]);
    let bias = g.op("Unsqueeze", &[&bias, &axes]);

    // The layers: the base model's below the fine-tuned ones.
    let tuned = classifier.tuned();
    let first = model.num_layers() - tuned.map_or(0, |t| t.layers.len());
    let layers = model.layers()[..first]
        .iter()
        .chain(tuned.into_iter().flat_map(|t| t.layers.iter()));
    for layer in layers {
        x = g
            .layer(
                &x,
                &bias,
                layer,
                config.num_attention_heads,
                eps,
                config.hidden_act,
            )
            .await?;
    }

    // Pooling.
    let pooling = classifier.meta.features.pooling;
    let mut pooled = match pooling {
        Pooling::Mean => {
            let axis = g.int64s(&[1], &[2]);
            let mask3 = g.op("Unsqueeze", &[&mask, &axis]);
            let masked = g.op("Mul", &[&x, &mask3]);
            let sequence_axis = g.int64s(&[1], &[1]);
            let summed = g.node(
                "ReduceSum",
                &[&masked, &sequence_axis],
                vec![int("keepdims", 0)],
                None,
            );
            let counts = g.node(
                "ReduceSum",
                &[&mask3, &sequence_axis],
                vec![int("keepdims", 0)],
                None,
            );
            let tiny = g.scalar(1e-9);
            let counts = g.op("Max", &[&counts, &tiny]);
            g.op("Div", &[&summed, &counts])
        }
        Pooling::Pooler => {
            let pooler = tuned
                .and_then(|t| t.pooler.as_ref())
                .or(model.pooler())
                .ok_or(BertError::NoPooler)?;
            let cls = g.node("Gather", &[&x, &zero], vec![int("axis", 1)], None);
            let dense = g.linear(&cls, pooler).await?;
            g.op("Tanh", &[&dense])
        }
    };

    // Standardization, when it is not the identity.
    let standardizer = &classifier.meta.standardizer;
    if standardizer.mean.iter().any(|&m| m != 0.0) || standardizer.scale.iter().any(|&s| s != 1.0) {
        let mean = g.weight("mean", &[width], &standardizer.mean);
        let scale = g.weight("scale", &[width], &standardizer.scale);
        let centred = g.op("Sub", &[&pooled, &mean]);
        pooled = g.op("Div", &[&centred, &scale]);
    }

    // The head: ReLU layers (BatchNorm after the first, as its running statistics say), then
    // the output layer. Dropout is the identity outside training.
    let head = classifier.head();
    let mut y = pooled;
    for (i, layer) in head.hidden.iter().enumerate() {
        let dense = g.linear(&y, layer).await?;
        y = g.op("Relu", &[&dense]);
        if i == 0
            && let Some(norm) = &head.norm
        {
            let gamma = values(&norm.gamma).await?;
            let beta = values(&norm.beta).await?;
            let mean = read_f32(norm.running_mean.value()).await?;
            let var = read_f32(norm.running_var.value()).await?;
            let scale: Vec<f32> = gamma
                .iter()
                .zip(&var)
                .map(|(g, v)| g / (v + norm.epsilon as f32).sqrt())
                .collect();
            let shift: Vec<f32> = beta
                .iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((b, m), s)| b - m * s)
                .collect();
            let scale = g.weight("batch_norm_scale", &[scale.len()], &scale);
            let shift = g.weight("batch_norm_shift", &[shift.len()], &shift);
            let scaled = g.op("Mul", &[&y, &scale]);
            y = g.op("Add", &[&scaled, &shift]);
        }
    }
    let outputs = classifier.meta.shape.outputs();
    let binary = outputs == 1;
    let labels = if binary { 2 } else { outputs };
    if binary {
        let z = g.linear(&y, &head.output).await?;
        let nothing = g.scalar(0.0);
        let zeros = g.op("Mul", &[&z, &nothing]);
        g.node(
            "Concat",
            &[&zeros, &z],
            vec![int("axis", 1)],
            Some("logits"),
        );
    } else {
        let [d_in, d_out] = head.output.weight.dims();
        let weight = g.weight(
            "weight",
            &[d_in, d_out],
            &values(&head.output.weight).await?,
        );
        let product = g.op("MatMul", &[&y, &weight]);
        let bias = match &head.output.bias {
            Some(bias) => values(bias).await?,
            None => vec![0.0; d_out],
        };
        let bias = g.weight("bias", &[d_out], &bias);
        g.node("Add", &[&product, &bias], vec![], Some("logits"));
    }

    let batch = || DimensionValue::DimParam("batch_size".into());
    let sequence = || DimensionValue::DimParam("sequence_length".into());
    let input = |name: &str| tensor_input(name, INT64, &[batch(), sequence()]);
    let graph = GraphProto {
        node: g.nodes,
        name: "bertweb_classifier".into(),
        initializer: g.initializers,
        input: vec![
            input("input_ids"),
            input("attention_mask"),
            input("token_type_ids"),
        ],
        output: vec![tensor_input(
            "logits",
            FLOAT,
            &[batch(), DimensionValue::DimValue(labels as i64)],
        )],
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        producer_name: "bertweb".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "A text classifier trained with bertweb on {}: logits of {}.",
            classifier.meta.model_id,
            classifier.meta.label_names.join(", ")
        ),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    };
    Ok(model.encode_to_vec())
}
