//! A module's parameters read back asynchronously. In the browser a WebGPU tensor cannot be
//! read synchronously, which burn's `to_device` and its stores' saving would do: copying a
//! module to another device and writing it as safetensors go through here instead.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::DType;

use crate::error::{BertError, Result};

/// Every float parameter of a module, flattened, with its id.
struct Flatten(Vec<(ParamId, Tensor<1>)>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let n = value.shape().num_elements();
        self.0.push((param.id, value.reshape([n])));
    }
}

/// The values of every float parameter of `module` (flattened), by id.
async fn read<M: Module>(module: &M) -> Result<HashMap<ParamId, TensorData>> {
    let mut flat = Flatten(Vec::new());
    module.visit(&mut flat);
    let mut values = HashMap::with_capacity(flat.0.len());
    for (id, value) in flat.0 {
        let data = value
            .into_data_async()
            .await
            .map_err(|e| BertError::Device(e.to_string()))?;
        values.insert(id, data);
    }
    Ok(values)
}

/// Puts read-back parameter values in place, on `device`.
struct Place {
    values: HashMap<ParamId, TensorData>,
    device: Device,
}

impl ModuleMapper for Place {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, value, mapper) = param.consume();
        let value = match self.values.remove(&id) {
            Some(data) => Tensor::<1>::from_data(data, &self.device).reshape(value.shape()),
            None => value,
        };
        Param::from_mapped_value(id, value, mapper)
    }
}

/// `module` with every parameter copied to `device`.
pub async fn to_device_async<M: Module>(module: M, device: &Device) -> Result<M> {
    let values = read(&module).await?;
    Ok(module.map(&mut Place {
        values,
        device: device.clone(),
    }))
}

/// `module` as safetensors bytes with `metadata`: the file burn's `SafetensorsStore` writes
/// (the same tensor names, and its format, producer and version entries), so that store reads
/// it back.
pub async fn safetensors_bytes<M: Module + ModuleSnapshot>(
    module: &M,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>> {
    let unwritable =
        |why: String| BertError::Internal(format!("cannot write the safetensors file: {why}"));
    let values = read(module).await?;
    // Names and shapes only: `collect` reads no tensor until its bytes are asked for.
    let mut tensors = Vec::new();
    for tensor in module.collect(None, None, false) {
        let data = tensor
            .param_id
            .and_then(|id| values.get(&ParamId::from(id)))
            .ok_or_else(|| unwritable(format!("no value was read for {}", tensor.name)))?;
        let dtype = match data.dtype() {
            DType::F32 => safetensors::Dtype::F32,
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            DType::F64 => safetensors::Dtype::F64,
            other => return Err(unwritable(format!("{} is {other:?}", tensor.name))),
        };
        tensors.push((tensor.name, dtype, tensor.shape.to_vec(), data.as_bytes()));
    }
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|view| (name.as_str(), view))
                .map_err(|e| unwritable(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let info = SafetensorsStore::default_metadata()
        .into_iter()
        .chain(metadata.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .collect();
    safetensors::serialize(views, Some(info)).map_err(|e| unwritable(e.to_string()))
}

/// Every float parameter of `module`, flattened and concatenated in the order the module visits
/// them: how a fine-tuning step's parameters travel to another thread's copy of the same
/// module ([`crate::shard`]), which reads them back with [`load_flat`].
pub async fn flat_values<M: Module>(module: &M) -> Result<Vec<f32>> {
    let mut flat = Flatten(Vec::new());
    module.visit(&mut flat);
    let total = flat.0.iter().map(|(_, t)| t.shape().num_elements()).sum();
    let mut values = Vec::with_capacity(total);
    for (_, tensor) in flat.0 {
        values.extend(crate::encoder::read_f32(tensor).await?);
    }
    Ok(values)
}

/// Each float parameter's size, in the order the module visits them.
pub fn flat_sizes<M: Module>(module: &M) -> Vec<usize> {
    struct Sizes(Vec<usize>);
    impl ModuleVisitor for Sizes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.shape().num_elements());
        }
    }
    let mut sizes = Sizes(Vec::new());
    module.visit(&mut sizes);
    sizes.0
}

/// `module` with its float parameters replaced by `values` ([`flat_values`]' layout), on
/// `device`; an error when their number is not the module's.
pub fn load_flat<M: Module>(module: M, values: &[f32], device: &Device) -> Result<M> {
    let needed: usize = flat_sizes(&module).iter().sum();
    if values.len() != needed {
        return Err(BertError::Internal(format!(
            "{} parameter values for a module of {needed}",
            values.len()
        )));
    }
    struct Load<'a> {
        values: &'a [f32],
        offset: usize,
        device: Device,
    }
    impl ModuleMapper for Load<'_> {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, value, mapper) = param.consume();
            let shape = value.shape();
            let end = self.offset + shape.num_elements();
            // The total was checked above, so every slice is in range.
            let slice = self.values.get(self.offset..end).unwrap_or_default();
            self.offset = end;
            let data = TensorData::new(slice.to_vec(), [slice.len()]);
            let value = Tensor::<1>::from_data(data, &self.device).reshape(shape);
            Param::from_mapped_value(id, value, mapper)
        }
    }
    Ok(module.map(&mut Load {
        values,
        offset: 0,
        device: device.clone(),
    }))
}
