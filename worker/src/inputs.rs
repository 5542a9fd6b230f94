//! What a stylize render reads: its pictures and cached style targets,
//! fetched from storage ([`fetch_inputs`]), then decoded ([`decode`]). The
//! pictures of a batch share their content and styles, read and decoded
//! once.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use stylefarm_engine::{EngineError, Image, Style};
use stylefarm_spec::task::StylizeTask;
use tracing::warn;

use crate::error::WorkerError;
use crate::guided::{self, FetchedMasks};
use crate::objects::Objects;

/// An input file as fetched: its key (names it in errors) and bytes.
pub(crate) type Fetched = (String, Bytes);

/// Everything a stylize render reads, fetched but not decoded.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    pub(crate) content: Option<Fetched>,
    /// Each style with its blend weight.
    pub(crate) styles: Vec<(Fetched, f64)>,
    /// The init picture: the previous scale, or the user's init image.
    pub(crate) init: Option<Fetched>,
    /// Cached targets (styles × scales, style-major); `None` = compute them.
    pub(crate) targets: Option<Vec<Bytes>>,
    /// The region maps of a guided render.
    pub(crate) masks: Option<FetchedMasks>,
}

/// Storage reads that remember what they read: the pictures of a batch
/// share their content and styles, each fetched once.
pub(crate) struct Reads<'a> {
    store: &'a Objects,
    read: HashMap<String, Bytes>,
}

impl<'a> Reads<'a> {
    pub(crate) fn new(store: &'a Objects) -> Self {
        Reads {
            store,
            read: HashMap::new(),
        }
    }

    async fn get(&mut self, key: &str) -> Result<Bytes, WorkerError> {
        if let Some(b) = self.read.get(key) {
            return Ok(b.clone());
        }
        let b = self.store.get(key).await?;
        self.read.insert(key.to_owned(), b.clone());
        Ok(b)
    }

    async fn fetch(&mut self, key: &str) -> Result<Fetched, WorkerError> {
        Ok((key.to_owned(), self.get(key).await?))
    }
}

/// Fetches the task's pictures and cached targets. Missing cached targets
/// are not an error: the render computes its own.
pub(crate) async fn fetch_inputs(
    reads: &mut Reads<'_>,
    task: &StylizeTask,
) -> Result<Inputs, WorkerError> {
    let content = match &task.content_key {
        Some(key) => Some(reads.fetch(key).await?),
        None => None,
    };
    let mut styles = Vec::with_capacity(task.styles.len());
    for s in &task.styles {
        styles.push((reads.fetch(&s.key).await?, s.weight));
    }
    let init_key = task
        .previous_scale
        .as_ref()
        .or(task.settings.init_key.as_ref());
    let init = match init_key {
        Some(key) => Some(reads.fetch(key).await?),
        None => None,
    };
    let mut targets = None;
    if let Some(shared) = &task.targets {
        let mut bytes = Vec::with_capacity(shared.keys.len());
        for key in &shared.keys {
            match reads.get(key).await {
                Ok(b) => bytes.push(b),
                Err(e) => {
                    warn!(key = %key, error = %e, "cached style targets unavailable: computing them here");
                    break;
                }
            }
        }
        targets = (bytes.len() == shared.keys.len()).then_some(bytes);
    }
    Ok(Inputs {
        content,
        styles,
        init,
        targets,
        masks: guided::fetch_masks(reads.store, task).await?,
    })
}

/// A render's pictures, decoded.
pub(crate) struct Decoded {
    pub(crate) content: Option<Image>,
    pub(crate) styles: Vec<Style>,
    /// The init picture: the previous scale, or the user's init image.
    pub(crate) init: Option<Image>,
}

/// Decodes the fetched pictures; inputs over the worker's pixel limit are
/// refused before decoding. `decoded` holds pictures decoded before, by
/// key: the pictures of a batch share their content and styles.
pub(crate) fn decode(
    inputs: &Inputs,
    max_pixels: u64,
    decoded: &mut HashMap<String, Image>,
) -> Result<Decoded, EngineError> {
    let mut decode = |(key, bytes): &Fetched| -> Result<Image, EngineError> {
        if let Some(img) = decoded.get(key) {
            return Ok(img.clone());
        }
        let img = Image::decode(bytes, Path::new(key), max_pixels)?;
        decoded.insert(key.clone(), img.clone());
        Ok(img)
    };
    let mut styles = Vec::with_capacity(inputs.styles.len());
    for (f, weight) in &inputs.styles {
        styles.push(Style {
            image: decode(f)?,
            weight: *weight,
        });
    }
    Ok(Decoded {
        content: inputs.content.as_ref().map(&mut decode).transpose()?,
        styles,
        init: inputs.init.as_ref().map(&mut decode).transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stylize::tests::inputs;

    #[test]
    fn a_picture_decoded_for_the_batch_is_not_decoded_again() {
        let limits = 1 << 20;
        let mut decoded = HashMap::new();
        let first = decode(&inputs(None), limits, &mut decoded).unwrap();
        assert_eq!(decoded.len(), 2, "the content and the style");
        // The same key again: taken from the batch's pictures, not decoded
        // (these bytes would not decode).
        let mut other = inputs(None);
        other.content = Some(("inputs/c.png".into(), Bytes::from_static(b"not a png")));
        let again = decode(&other, limits, &mut decoded).unwrap();
        assert_eq!(again.content.unwrap().data, first.content.unwrap().data);
        let Err(e) = decode(&other, limits, &mut HashMap::new()) else {
            panic!("the bytes decoded")
        };
        assert!(e.to_string().contains("inputs/c.png"), "{e}");
    }
}
