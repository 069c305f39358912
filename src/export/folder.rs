//! The exported model folder: what transformers.js' `pipeline('text-classification', …)` and a
//! Hugging Face style loader read — `config.json` (a `BertForSequenceClassification` with the
//! labels), the tokenizer files, `onnx/model.onnx` — and a model card, `README.md`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::classifier::Classifier;
use crate::encoder::Encoder;
use crate::error::{BertError, Result};

/// What the model card says that the classifier does not know: the data and the day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCard {
    /// The data set's name (its file name).
    pub dataset: String,
    /// Its rows, when known.
    pub rows: Option<usize>,
    /// The base model's name (its folder), when known.
    pub base_model: String,
    /// The day of the export, `YYYY-MM-DD`.
    pub date: String,
}

/// The folder's files, path (with `/`) → bytes, for `classifier` on `encoder` (which it must
/// fit), with the base model's own `config.json` (`base_config`) as the start of the new one.
pub async fn export_folder(
    encoder: &Encoder,
    classifier: &Classifier,
    base_config: &[u8],
    card: &ModelCard,
) -> Result<Vec<(String, Vec<u8>)>> {
    classifier.check_fits(encoder)?;
    let meta = &classifier.meta;
    let max_len = meta.features.max_len;
    let json = |value: &Value| {
        serde_json::to_vec_pretty(value).map_err(|e| BertError::Internal(e.to_string()))
    };
    let tokenizer = encoder.tokenizer();
    let specials: Map<String, Value> = [
        ("cls_token", "[CLS]"),
        ("sep_token", "[SEP]"),
        ("pad_token", "[PAD]"),
        ("unk_token", "[UNK]"),
        ("mask_token", "[MASK]"),
    ]
    .into_iter()
    .filter(|(_, token)| tokenizer.has_token(token))
    .map(|(key, token)| (key.to_string(), Value::from(token)))
    .collect();
    let mut tokenizer_config = specials.clone();
    tokenizer_config.insert("tokenizer_class".into(), "BertTokenizer".into());
    // transformers.js truncates to this, not to tokenizer.json's truncation.
    tokenizer_config.insert("model_max_length".into(), max_len.into());
    Ok(vec![
        (
            "config.json".into(),
            json(&config(base_config, classifier)?)?,
        ),
        (
            "tokenizer.json".into(),
            tokenizer.to_hugging_face_json(max_len)?.into_bytes(),
        ),
        (
            "tokenizer_config.json".into(),
            json(&Value::Object(tokenizer_config))?,
        ),
        (
            "special_tokens_map.json".into(),
            json(&Value::Object(specials))?,
        ),
        (
            "onnx/model.onnx".into(),
            super::onnx::classifier_onnx(encoder, classifier).await?,
        ),
        (
            "README.md".into(),
            model_card(classifier, card).into_bytes(),
        ),
    ])
}

/// The base model's config as a `BertForSequenceClassification` with this classifier's labels.
fn config(base_config: &[u8], classifier: &Classifier) -> Result<Value> {
    let mut config: Value =
        serde_json::from_slice(base_config).map_err(|e| BertError::ConfigJson(e.to_string()))?;
    let fields = config
        .as_object_mut()
        .ok_or_else(|| BertError::ConfigJson("config.json is not a JSON object".into()))?;
    let names = &classifier.meta.label_names;
    let id2label: Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (i.to_string(), Value::from(name.as_str())))
        .collect();
    let label2id: Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (name.clone(), Value::from(i)))
        .collect();
    let problem = if classifier.meta.shape.multi_label {
        "multi_label_classification"
    } else {
        "single_label_classification"
    };
    fields.insert(
        "architectures".into(),
        json!(["BertForSequenceClassification"]),
    );
    fields.insert("model_type".into(), "bert".into());
    fields.insert("id2label".into(), Value::Object(id2label));
    fields.insert("label2id".into(), Value::Object(label2id));
    fields.insert("num_labels".into(), names.len().into());
    fields.insert("problem_type".into(), problem.into());
    if let Some(thresholds) = &classifier.meta.thresholds {
        // Other tools take 0.5 for every label; these are what bertweb chose on validation.
        let by_label: Map<String, Value> = names
            .iter()
            .zip(thresholds)
            .map(|(name, &t)| (name.clone(), Value::from(f64::from(t))))
            .collect();
        fields.insert("bertweb_thresholds".into(), Value::Object(by_label));
    }
    // Without it transformers.js looks for a quantized model_quantized.onnx in the browser.
    fields.insert("transformers.js_config".into(), json!({"dtype": "fp32"}));
    Ok(config)
}

fn model_card(classifier: &Classifier, card: &ModelCard) -> String {
    let meta = &classifier.meta;
    let labels = meta.label_names.join(", ");
    let dataset = if card.dataset.is_empty() {
        "a data set".to_string()
    } else {
        format!("`{}`", card.dataset)
    };
    let rows = card.rows.map(|n| format!(", {n} rows")).unwrap_or_default();
    let base = if card.base_model.is_empty() {
        meta.model_id.clone()
    } else {
        format!("{} (`{}`)", card.base_model, meta.model_id)
    };
    let how = if let Some(fine_tune) = &meta.fine_tune {
        let s = &fine_tune.settings;
        format!(
            "the top {} encoder layers fine-tuned with a linear head ({} epochs, batch {}, learning rates {} and {}, seed {})",
            s.layers, s.epochs, s.batch_size, s.encoder_lr, s.head_lr, s.seed
        )
    } else if let Some(settings) = &meta.settings {
        format!(
            "a `{}` head on the frozen encoder's features (hidden layers {:?}, {} epochs, seed {})",
            settings.preset.name(),
            settings.hidden,
            settings.epochs,
            settings.seed
        )
    } else if let Some(imported) = &meta.imported {
        format!(
            "imported from a Hugging Face `{}` folder",
            imported.architecture
        )
    } else {
        "a head on the frozen encoder's features".to_string()
    };
    let test = match &meta.test {
        Some(t) => format!(
            "| {} | {:.4} |\n| AUROC | {} |\n| macro-F1 | {:.4} |\n{}| test texts | {} |\n",
            if meta.shape.multi_label {
                "exact match (every label right)"
            } else {
                "accuracy"
            },
            t.accuracy,
            t.auroc.map_or("–".into(), |a| format!("{a:.4}")),
            t.macro_f1,
            t.micro_f1
                .map_or(String::new(), |f| format!("| micro-F1 | {f:.4} |\n")),
            t.n
        ),
        None => "Not evaluated on a test split.\n".to_string(),
    };
    let scores = if meta.shape.multi_label {
        "a sigmoid per label (labels are independent)"
    } else {
        "a softmax over the labels"
    };
    let calibration = meta.temperature.map_or(String::new(), |t| {
        format!(
            "| calibration | the logits are divided by a temperature of {t:.3}, fitted on the validation part (already in the weights) |\n"
        )
    });
    let thresholds = meta.thresholds.as_ref().map_or(String::new(), |thresholds| {
        format!(
            "| thresholds | a text has a label when its score is at least the label's threshold, chosen on validation: {} (also `bertweb_thresholds` in `config.json`) |\n",
            meta.label_names
                .iter()
                .zip(thresholds)
                .map(|(n, t)| format!("{n} {t:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    format!(
        "---\nlibrary_name: transformers.js\npipeline_tag: text-classification\ntags:\n- bertweb\n- onnx\n---\n\n\
# Text classifier: {labels}\n\n\
Trained in the browser with bertweb on {date} from {dataset}{rows}.\n\n\
| | |\n| --- | --- |\n\
| base model | {base} |\n\
| labels | {labels} |\n\
| classifier | {how} |\n\
| pooling | {pooling}, at most {max_len} word pieces per text |\n\
| scores | {scores} of `logits` |\n{calibration}{thresholds}\n\
## Test metrics\n\n| | |\n| --- | --- |\n{test}\n\
## Use it\n\n\
`onnx/model.onnx` takes `input_ids`, `attention_mask` and `token_type_ids` (int64, `[batch, sequence]`) \
and gives `logits` (`[batch, {outputs}]`).\n\n\
With transformers.js, in a web page:\n\n\
```js\nimport {{ pipeline }} from '@huggingface/transformers';\n\
const classify = await pipeline('text-classification', './this-folder');\n\
console.log(await classify('Great coffee, I will buy it again.', {{ top_k: null }}));\n```\n\n\
With onnxruntime and tokenizers, in Python:\n\n\
```python\nimport numpy as np, onnxruntime as ort\nfrom tokenizers import Tokenizer\n\n\
tokenizer = Tokenizer.from_file('this-folder/tokenizer.json')\n\
session = ort.InferenceSession('this-folder/onnx/model.onnx')\n\
enc = tokenizer.encode('Great coffee, I will buy it again.')\n\
feed = {{name: np.array([values], dtype=np.int64) for name, values in\n\
        [('input_ids', enc.ids), ('attention_mask', enc.attention_mask), ('token_type_ids', enc.type_ids)]}}\n\
logits = session.run(['logits'], feed)[0][0]\n```\n\n\
Texts are cut to {max_len} word pieces, as in training. bertweb removes HTML tags from a text before it \
classifies it; other tools do not, so remove them first for the same scores.\n",
        date = if card.date.is_empty() {
            "an unknown day"
        } else {
            &card.date
        },
        pooling = meta.features.pooling.name(),
        max_len = meta.features.max_len,
        outputs = if meta.shape.outputs() == 1 {
            2
        } else {
            meta.shape.outputs()
        },
    )
}
