//! Pure: the line reader of `mooring.api.yamlfast` (`_lines`) in Rust.
//!
//! A line-for-line port: the same regular expression's groups per line, the same frames,
//! the same give-ups (the `unsupported` class passed in), the same objects and document
//! positions. Plain scalars are resolved here when YAML 1.1 (PyYAML's resolver) picks the
//! tag by their first character cheaply (str, bool, null, small decimal ints); the rest go
//! to the `resolve` callable (`yamlfast._plain`). No side effects.
//!
//! `locate` is the same walk (objects built and dropped, so it gives up where `read` does),
//! recording where wanted paths start as libyaml's events would (`yamlfast._locate_events`);
//! `read` records nothing (`Unmarked`, compiled away).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple, PyType};

/// Frames deeper than this are left to libyaml (yamlfast._LINES_DEPTH).
const LINES_DEPTH: usize = 100;
/// Longest plain key the line's expression takes: a first character and 250 more.
const KEY_MORE: usize = 250;

/// rustc's FxHash: a few cycles per word, for the per-call cache of scalar texts.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A character the line reader leaves to libyaml (yamlfast._NOT_LINES): tabs, carriage
/// returns, YAML 1.1's other line breaks, a byte-order mark, what libyaml refuses.
fn leaves_to_libyaml(text: &str) -> bool {
    let bytes = text.as_bytes();
    // Branch-free per chunk so that the common (ASCII) case vectorises.
    let ascii_ok = bytes.chunks(64).all(|chunk| {
        chunk.iter().fold(true, |ok, &b| {
            ok & ((0x20..0x7f).contains(&b) | (b == b'\n'))
        })
    });
    if ascii_ok {
        return false;
    }
    text.chars().any(|c| {
        !matches!(c as u32,
            0x0a | 0x20..=0x7e | 0xa0..=0x2027 | 0x202a..=0xd7ff | 0xe000..=0xfefe
            | 0xff00..=0xfffd | 0x1_0000..=0x10_ffff)
    })
}

/// Where the first line break is: eight bytes at a time (a zero byte of `word ^ breaks`).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let breaks = ONES * u64::from(b'\n');
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let word = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) ^ breaks;
        // The lowest byte flagged is the first zero byte (higher flags may be false).
        let zero = word.wrapping_sub(ONES) & !word & HIGH;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|found| at + found)
}

/// One line as yamlfast._LINE's groups: `^( *+)(-(?: ++|$))?(?:(KEY):(?: ++|$))?(.*)`.
struct Line<'a> {
    width: usize,
    /// The dash and the blanks after it; 0 when there is none.
    dash: usize,
    key: Option<&'a str>,
    value: &'a str,
}

fn is_key_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')
}

fn blanks(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|&&b| b == b' ').count()
}

fn split_line(line: &str) -> Line<'_> {
    let bytes = line.as_bytes();
    let width = blanks(bytes);
    let mut at = width;
    let mut dash = 0;
    if bytes.get(at) == Some(&b'-') {
        match bytes.get(at + 1) {
            None => dash = 1,
            Some(b' ') => dash = 1 + blanks(&bytes[at + 1..]),
            Some(_) => {}
        }
    }
    at += dash;
    let mut key = None;
    if bytes.get(at).is_some_and(|&b| is_key_start(b)) {
        let more = bytes[at + 1..]
            .iter()
            .take(KEY_MORE)
            .take_while(|&&b| is_key_char(b))
            .count();
        let colon = at + 1 + more;
        if bytes.get(colon) == Some(&b':') {
            match bytes.get(colon + 1) {
                None => {
                    key = Some(&line[at..colon]);
                    at = colon + 1;
                }
                Some(b' ') => {
                    key = Some(&line[at..colon]);
                    at = colon + 1 + blanks(&bytes[colon + 1..]);
                }
                Some(_) => {}
            }
        }
    }
    Line {
        width,
        dash,
        key,
        value: &line[at..],
    }
}

/// A value starting with one of these is not a plain scalar (yamlfast._INDICATORS).
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

enum Block<'py> {
    Map(Bound<'py, PyDict>),
    Seq(Bound<'py, PyList>),
}

struct Frame<'py, N> {
    indent: isize,
    block: Block<'py>,
    /// A sequence at its key's own indentation, which a key at that indentation closes.
    indentless: bool,
    /// What `Marks` knows of this collection (nothing, for `read`).
    node: N,
}

struct Reader<'py, 'a> {
    py: Python<'py>,
    resolve: &'a Bound<'py, PyAny>,
    unsupported: &'a Bound<'py, PyType>,
    /// Plain scalars read so far in this text, by their text.
    plain: HashMap<&'a str, Bound<'py, PyAny>, BuildHasherDefault<Fx>>,
}

impl<'py, 'a> Reader<'py, 'a> {
    fn give_up(&self, why: &'static str) -> PyErr {
        PyErr::from_type(self.unsupported.clone(), why)
    }

    /// A plain scalar as YAML 1.1 (PyYAML's resolver) reads it: `yamlfast._plain`.
    fn plain(&mut self, text: &'a str) -> PyResult<Bound<'py, PyAny>> {
        if let Some(known) = self.plain.get(text) {
            return Ok(known.clone());
        }
        let value = self.resolve_plain(text)?;
        self.plain.insert(text, value.clone());
        Ok(value)
    }

    fn resolve_plain(&self, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let bytes = text.as_bytes();
        // PyYAML picks the implicit resolvers to try by the first character: bool by
        // yYnNtTfFoO, null by ~nN and '', float by -+0-9., int by -+0-9, merge by <,
        // timestamp by 0-9, value by =. Other texts are str.
        match bytes.first() {
            Some(b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O') => {
                Ok(match text {
                    "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
                        PyBool::new(py, true).to_owned().into_any()
                    }
                    "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
                        PyBool::new(py, false).to_owned().into_any()
                    }
                    "null" | "Null" | "NULL" => py.None().into_bound(py),
                    _ => PyString::new(py, text).into_any(),
                })
            }
            // After a sign, every float and int form has a digit or a dot.
            Some(b'-' | b'+') if !matches!(bytes.get(1), Some(b'0'..=b'9' | b'.')) => {
                Ok(PyString::new(py, text).into_any())
            }
            // `0` or a decimal without a leading zero, `_` or `:`: an int (not a float, not
            // a timestamp), small enough for an i64.
            Some(b'1'..=b'9') if bytes.len() <= 18 && bytes.iter().all(u8::is_ascii_digit) => {
                Ok(text.parse::<i64>().unwrap().into_pyobject(py)?.into_any())
            }
            Some(b'0') if bytes.len() == 1 => Ok(0i64.into_pyobject(py)?.into_any()),
            // Every float, int and timestamp form is made of these (`256Mi`, `200m` are not).
            Some(b'0'..=b'9')
                if !bytes.iter().all(|&b| {
                    b.is_ascii_hexdigit()
                        || matches!(b, b'_' | b'.' | b':' | b'+' | b'-' | b'x')
                        || matches!(b, b't' | b'T' | b'Z' | b' ' | b'\t')
                }) =>
            {
                Ok(PyString::new(py, text).into_any())
            }
            Some(b'-' | b'+' | b'0'..=b'9' | b'.' | b'<' | b'~' | b'=') | None => {
                self.resolve.call1((text,))
            }
            Some(_) => Ok(PyString::new(py, text).into_any()),
        }
    }

    /// Only blanks, or a comment after a blank, may follow a quoted scalar or `[]`/`{}`.
    fn after_scalar(&self, rest: &str) -> PyResult<()> {
        let stripped = rest.trim_start_matches(' ');
        if !stripped.is_empty() && (!rest.starts_with(' ') || !stripped.starts_with('#')) {
            return Err(self.give_up("text after a scalar"));
        }
        Ok(())
    }

    /// A plain scalar that ends its line (a comment after a blank is not part of it).
    fn plain_value(&mut self, value: &'a str) -> PyResult<Bound<'py, PyAny>> {
        // One pass for `value.index(" #")` and `": " in value or value[-1] == ":"` once
        // the comment and the blanks before it are cut off (a colon before blanks only).
        let bytes = value.as_bytes();
        let mut end = bytes.len();
        let mut colon = false;
        for (at, &b) in bytes.iter().enumerate() {
            if b == b'#' && at > 0 && bytes[at - 1] == b' ' {
                end = at - 1;
                break;
            }
            if b == b':' && matches!(bytes.get(at + 1), None | Some(b' ')) {
                colon = true;
            }
        }
        // A colon before ` #`: the colon ends the text once its blanks are cut.
        if colon {
            return Err(self.give_up("': ' in a plain scalar"));
        }
        let value = value[..end].trim_end_matches(' ');
        self.plain(value)
    }

    /// A value that starts with an indicator: one-line quoted scalars, `[]`, `{}`, `-x`.
    fn indicated(&mut self, value: &'a str) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        let bytes = value.as_bytes();
        match bytes[0] {
            b'\'' => {
                let mut start = 1;
                let end = loop {
                    let Some(found) = value[start..].find('\'') else {
                        return Err(self.give_up("a quoted scalar over several lines"));
                    };
                    let end = start + found;
                    if bytes.get(end + 1) != Some(&b'\'') {
                        break end;
                    }
                    start = end + 2;
                };
                self.after_scalar(&value[end + 1..])?;
                let inner = &value[1..end];
                Ok(if inner.contains("''") {
                    PyString::new(py, &inner.replace("''", "'")).into_any()
                } else {
                    PyString::new(py, inner).into_any()
                })
            }
            b'"' => {
                let end = match value[1..].find('"') {
                    Some(found) if !value[1..1 + found].contains('\\') => 1 + found,
                    _ => {
                        return Err(self
                            .give_up("a double-quoted scalar with escapes or over several lines"))
                    }
                };
                self.after_scalar(&value[end + 1..])?;
                Ok(PyString::new(py, &value[1..end]).into_any())
            }
            b'[' if value.starts_with("[]") => {
                self.after_scalar(&value[2..])?;
                Ok(PyList::empty(py).into_any())
            }
            b'{' if value.starts_with("{}") => {
                self.after_scalar(&value[2..])?;
                Ok(PyDict::new(py).into_any())
            }
            b'-' if bytes.len() > 1 && bytes[1] != b' ' => self.plain_value(value),
            _ => Err(self.give_up("a value starting with an indicator")),
        }
    }

    fn value(&mut self, value: &'a str) -> PyResult<Bound<'py, PyAny>> {
        if is_indicator(value.as_bytes()[0]) {
            self.indicated(value)
        } else {
            self.plain_value(value)
        }
    }
}

/// Where the walk's nodes start, recorded as it reads: for `locate`. `read` records nothing
/// (`Unmarked`, whose calls compile away).
///
/// The marks are libyaml's (yamlfast._mark), from 1; every line the reader reads is ASCII
/// up to its one node's start (indentation, a dash, a plain key, a colon, blanks), so byte
/// offsets there are libyaml's column, which counts characters.
trait Marks {
    /// A node of the walk: whether (and as what) its path is wanted.
    type Node: Copy;
    /// A node whose path is not wanted, nor any path below it.
    fn unwanted(&self) -> Self::Node;
    /// The root of the `document`th document (from 0).
    fn root(&mut self, document: usize) -> Self::Node;
    /// The value of `key` in the mapping `parent`; the key starts at line, column.
    fn key(&self, parent: Self::Node, key: &str, line: usize, column: usize) -> Self::Node;
    /// The item of the sequence `parent` at the index `index` says (asked only if wanted).
    fn item(&self, parent: Self::Node, index: impl FnOnce() -> usize) -> Self::Node;
    /// The node starts at line, column.
    fn mark(&mut self, node: Self::Node, line: usize, column: usize);
    /// The node is a block value of a mapping's entry, which starts at its key instead.
    fn at_key(&mut self, node: Self::Node);
}

/// No marks: `read`.
struct Unmarked;

impl Marks for Unmarked {
    type Node = ();
    #[inline(always)]
    fn unwanted(&self) {}
    #[inline(always)]
    fn root(&mut self, _: usize) {}
    #[inline(always)]
    fn key(&self, _: (), _: &str, _: usize, _: usize) {}
    #[inline(always)]
    fn item(&self, _: (), _: impl FnOnce() -> usize) {}
    #[inline(always)]
    fn mark(&mut self, _: (), _: usize, _: usize) {}
    #[inline(always)]
    fn at_key(&mut self, _: ()) {}
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// One wanted path (every prefix of a path given is one): what is below it, and its mark.
struct Wanted {
    keys: FxMap<Box<str>, u32>,
    items: FxMap<usize, u32>,
    document: usize,
    /// The path as the first tuple of `Locator::paths` that holds it, and its length.
    path: (usize, usize),
    mark: Option<(usize, usize)>,
}

/// A wanted node: its index in `Locator::wanted`, and where its key starts (line 0: none).
type Found = Option<(u32, usize, usize)>;

/// The wanted paths as a tree, per document, and the marks of those the walk meets
/// (yamlfast._walk).
struct Locator<'py> {
    wanted: Vec<Wanted>,
    roots: FxMap<usize, u32>,
    paths: Vec<Bound<'py, PyTuple>>,
    /// Wanted nodes in the order they were first marked (the walk's: documents in turn,
    /// each node before what it holds), as yamlfast._walk fills its dict.
    marked: Vec<u32>,
}

impl<'py> Locator<'py> {
    /// The wanted paths of `wanted` (document index -> paths); None for what this does not
    /// take as `yamlfast.locate` would: only int indexes, tuple paths, str and int items.
    fn new(wanted: &Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        let mut locator = Locator {
            wanted: Vec::new(),
            roots: FxMap::default(),
            paths: Vec::new(),
            marked: Vec::new(),
        };
        for entry in wanted.call_method0("items")?.try_iter()? {
            let (index, paths): (Bound<'py, PyAny>, Bound<'py, PyAny>) = entry?.extract()?;
            if !index.is_exact_instance_of::<PyInt>() {
                return Ok(None); // True is document 1 to a dict; leave that to Python
            }
            // A negative or huge index is no document's: its paths are checked, not kept.
            let document = index.extract::<usize>().ok();
            for path in paths.try_iter()? {
                let path = path?;
                let Ok(tuple) = path.cast_exact::<PyTuple>() else {
                    return Ok(None);
                };
                if !locator.add(document, tuple)? {
                    return Ok(None);
                }
            }
        }
        Ok(Some(locator))
    }

    /// The path and its prefixes; false for an item that is not an exact str or int.
    fn add(&mut self, document: Option<usize>, tuple: &Bound<'py, PyTuple>) -> PyResult<bool> {
        let path = self.paths.len();
        let mut node = match document {
            Some(document) => Some(match self.roots.get(&document) {
                Some(&root) => root,
                None => {
                    let root = self.node(document, (path, 0));
                    self.roots.insert(document, root);
                    root
                }
            }),
            None => None,
        };
        for (at, item) in tuple.iter().enumerate() {
            let prefix = (path, at + 1);
            if let Ok(key) = item.cast_exact::<PyString>() {
                let Ok(key) = key.to_str() else {
                    return Ok(false);
                };
                node = node.map(|parent| match self.wanted[parent as usize].keys.get(key) {
                    Some(&child) => child,
                    None => {
                        let document = self.wanted[parent as usize].document;
                        let child = self.node(document, prefix);
                        self.wanted[parent as usize].keys.insert(key.into(), child);
                        child
                    }
                });
            } else if item.is_exact_instance_of::<PyInt>() {
                // A negative or huge index is no item's: nothing below it is found either.
                let index = item.extract::<usize>().ok();
                node = match (node, index) {
                    (Some(parent), Some(index)) => {
                        Some(match self.wanted[parent as usize].items.get(&index) {
                            Some(&child) => child,
                            None => {
                                let document = self.wanted[parent as usize].document;
                                let child = self.node(document, prefix);
                                self.wanted[parent as usize].items.insert(index, child);
                                child
                            }
                        })
                    }
                    _ => None,
                };
            } else {
                return Ok(false); // True is index 1 to a tuple's ==; leave that to Python
            }
        }
        self.paths.push(tuple.clone());
        Ok(true)
    }

    fn node(&mut self, document: usize, path: (usize, usize)) -> u32 {
        self.wanted.push(Wanted {
            keys: FxMap::default(),
            items: FxMap::default(),
            document,
            path,
            mark: None,
        });
        (self.wanted.len() - 1) as u32
    }

    /// {(document, path): (line, column)} for each wanted path met, as yamlfast._walk.
    fn marks(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let marks = PyDict::new(py);
        for &id in &self.marked {
            let wanted = &self.wanted[id as usize];
            let Some(mark) = wanted.mark else { continue };
            let (path, length) = wanted.path;
            let path = self.paths[path].get_slice(0, length);
            marks.set_item((wanted.document, path), mark)?;
        }
        Ok(marks)
    }
}

impl Marks for Locator<'_> {
    type Node = Found;

    fn unwanted(&self) -> Found {
        None
    }

    fn root(&mut self, document: usize) -> Found {
        self.roots.get(&document).map(|&root| (root, 0, 0))
    }

    fn key(&self, parent: Found, key: &str, line: usize, column: usize) -> Found {
        let (parent, _, _) = parent?;
        let child = *self.wanted[parent as usize].keys.get(key)?;
        Some((child, line, column))
    }

    fn item(&self, parent: Found, index: impl FnOnce() -> usize) -> Found {
        let (parent, _, _) = parent?;
        let child = *self.wanted[parent as usize].items.get(&index())?;
        Some((child, 0, 0))
    }

    fn mark(&mut self, node: Found, line: usize, column: usize) {
        if let Some((id, _, _)) = node {
            let wanted = &mut self.wanted[id as usize];
            if wanted.mark.is_none() {
                self.marked.push(id);
            }
            wanted.mark = Some((line, column));
        }
    }

    fn at_key(&mut self, node: Found) {
        if let Some((_, line, column)) = node {
            if line > 0 {
                self.mark(node, line, column);
            }
        }
    }
}

/// Every document of `text` as (object, line, column), exactly as `yamlfast._lines` reads
/// it, or `unsupported` raised where it gives up.
#[pyfunction]
pub fn read<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyString>,
    resolve: &Bound<'py, PyAny>,
    unsupported: &Bound<'py, PyType>,
) -> PyResult<Bound<'py, PyList>> {
    walk(py, text, resolve, unsupported, &mut Unmarked)
}

/// Where each wanted path (and every prefix of it) starts, as `yamlfast.locate` finds it
/// with libyaml's events: {(document, path): (line, column)}, a mapping entry whose value
/// is a collection at its key. Only for texts `read` reads (the same walk, the objects
/// built and dropped, scalars resolved by `resolve`) and wanted paths of str and int;
/// `unsupported` raised for anything else.
#[pyfunction]
pub fn locate<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyString>,
    wanted: &Bound<'py, PyAny>,
    resolve: &Bound<'py, PyAny>,
    unsupported: &Bound<'py, PyType>,
) -> PyResult<Bound<'py, PyDict>> {
    let give_up = || PyErr::from_type(unsupported.clone(), "wanted paths left to libyaml's");
    let Some(mut locator) = Locator::new(wanted).map_err(|_| give_up())? else {
        return Err(give_up());
    };
    walk(py, text, resolve, unsupported, &mut locator)?;
    locator.marks(py)
}

/// A key whose value is below it: its mapping, the key, the mapping's indentation, the
/// value's node.
type Pending<'py, N> = (Bound<'py, PyDict>, Bound<'py, PyAny>, isize, N);

/// A document ends: its root object (None for an empty one, which is marked where it
/// starts, as libyaml marks its empty scalar) and where it starts go to `documents`.
fn end_document<'py, M: Marks>(
    py: Python<'py>,
    documents: &Bound<'py, PyList>,
    marks: &mut M,
    document: usize,
    root: Option<Bound<'py, PyAny>>,
    (line, column): (usize, usize),
) -> PyResult<()> {
    let obj = match root {
        Some(obj) => obj,
        None => {
            let node = marks.root(document);
            marks.mark(node, line, column);
            py.None().into_bound(py)
        }
    };
    documents.append((obj, line, column))
}

/// The line reader (yamlfast._lines), telling `marks` where each node starts.
fn walk<'py, M: Marks>(
    py: Python<'py>,
    text: &Bound<'py, PyString>,
    resolve: &Bound<'py, PyAny>,
    unsupported: &Bound<'py, PyType>,
    marks: &mut M,
) -> PyResult<Bound<'py, PyList>> {
    let give_up = |why: &'static str| PyErr::from_type(unsupported.clone(), why);
    // A str with lone surrogates has no UTF-8 form; libyaml refuses those characters.
    let Ok(text) = text.to_str() else {
        return Err(give_up("characters the line reader leaves to libyaml"));
    };
    if leaves_to_libyaml(text) {
        return Err(give_up("characters the line reader leaves to libyaml"));
    }
    let mut reader = Reader {
        py,
        resolve,
        unsupported,
        plain: HashMap::with_capacity_and_hasher(256, BuildHasherDefault::default()),
    };
    let documents = PyList::empty(py);
    let mut document = 0usize; // documents so far
    let mut started = false; // a document is open (`---` seen, or content)
    let mut root: Option<Bound<'py, PyAny>> = None;
    let mut mark: Option<(usize, usize)> = None;
    // Open collections, outermost first.
    let mut frames: Vec<Frame<'py, M::Node>> = Vec::new();
    let mut pending: Option<Pending<'py, M::Node>> = None;
    let mut mapping: Option<Bound<'py, PyDict>> = None; // the mapping a key at `indent` goes to
    let mut mapping_node = marks.unwanted();
    let mut indent: isize = -2; // -2: no such mapping (the next line is not a sibling key)
    let mut line = 0usize;
    let mut rest = text;
    let mut last = false;
    while !last {
        // The lines as `text.split('\n')` gives them (the last may be empty).
        let raw = match find_newline(rest.as_bytes()) {
            Some(at) => {
                let raw = &rest[..at];
                rest = &rest[at + 1..];
                raw
            }
            None => {
                last = true;
                rest
            }
        };
        line += 1;
        let Line {
            width,
            dash,
            key,
            value,
        } = split_line(raw);
        // Where the value starts (column from 1); the key starts at width + dash + 1.
        let value_column = raw.len() - value.len() + 1;
        let width = width as isize;
        if key.is_none() || dash > 0 || pending.is_some() || width != indent {
            // Anything but a sibling key: comments, `---`, structure.
            if key.is_none() && dash == 0 {
                if value.is_empty() || value.starts_with('#') {
                    continue;
                }
                if width == 0
                    && value.starts_with("---")
                    && matches!(value.as_bytes().get(3), None | Some(b' '))
                {
                    let rest = value[3..].trim_start_matches(' ');
                    if !rest.is_empty() && !rest.starts_with('#') {
                        return Err(give_up("a node on the line of ---"));
                    }
                    if started {
                        let at = mark.unwrap_or((line, 1));
                        end_document(py, &documents, marks, document, root.take(), at)?;
                        document += 1;
                    }
                    started = true;
                    mark = None;
                    frames.clear();
                    pending = None;
                    indent = -2;
                    continue;
                }
                return Err(give_up("a line that is neither a key nor an item"));
            }
            if let Some((parent, parent_key, parent_indent, node)) = pending.take() {
                if width > parent_indent || (width == parent_indent && dash > 0) {
                    let block = if dash > 0 {
                        let list = PyList::empty(py);
                        parent.set_item(parent_key, &list)?;
                        Block::Seq(list)
                    } else {
                        let dict = PyDict::new(py);
                        parent.set_item(parent_key, &dict)?;
                        Block::Map(dict)
                    };
                    marks.at_key(node);
                    frames.push(Frame {
                        indent: width,
                        block,
                        indentless: width == parent_indent,
                        node,
                    });
                }
            } else if frames.is_empty() {
                if root.is_some() {
                    return Err(give_up("a line after the document's root"));
                }
                started = true;
                mark = Some((line, width as usize + 1));
                let block = if dash > 0 {
                    let list = PyList::empty(py);
                    root = Some(list.clone().into_any());
                    Block::Seq(list)
                } else {
                    let dict = PyDict::new(py);
                    root = Some(dict.clone().into_any());
                    Block::Map(dict)
                };
                let node = marks.root(document);
                marks.mark(node, line, width as usize + 1);
                frames.push(Frame {
                    indent: width,
                    block,
                    indentless: false,
                    node,
                });
            }
            while let Some(top) = frames.last() {
                if top.indent > width || (top.indent == width && top.indentless && dash == 0) {
                    frames.pop();
                } else {
                    break;
                }
            }
            let top = match frames.last() {
                Some(top) if top.indent == width && frames.len() <= LINES_DEPTH => top,
                _ => return Err(give_up("indentation the line reader does not follow")),
            };
            match &top.block {
                Block::Map(dict) => {
                    if dash > 0 {
                        return Err(give_up("an item among a mapping's keys"));
                    }
                    mapping = Some(dict.clone());
                    mapping_node = top.node;
                    indent = width;
                }
                Block::Seq(list) => {
                    if dash == 0 {
                        return Err(give_up("a key among a sequence's items"));
                    }
                    // A sequence's item has no key: it starts where libyaml's event does
                    // (a mapping on the dash's line at its first key).
                    let node = marks.item(top.node, || list.len());
                    if key.is_some() {
                        let dict = PyDict::new(py);
                        list.append(&dict)?;
                        indent = width + dash as isize;
                        marks.mark(node, line, indent as usize + 1);
                        frames.push(Frame {
                            indent,
                            block: Block::Map(dict.clone()),
                            indentless: false,
                            node,
                        });
                        mapping = Some(dict);
                        mapping_node = node;
                    } else {
                        let bytes = value.as_bytes();
                        if bytes.is_empty()
                            || bytes[0] == b'#'
                            || (bytes[0] == b'-' && matches!(bytes.get(1), None | Some(b' ')))
                        {
                            return Err(give_up("an empty or nested item"));
                        }
                        let list = list.clone();
                        list.append(reader.value(value)?)?;
                        marks.mark(node, line, value_column);
                        indent = -2;
                        continue;
                    }
                }
            }
        }
        // A key of `mapping`, and its value if it is on the same line.
        let (Some(key_text), Some(target)) = (key, mapping.as_ref()) else {
            return Err(give_up("a key without its mapping")); // not reached
        };
        let key = reader.plain(key_text)?;
        if target.contains(&key)? {
            return Err(give_up("a repeated key")); // libyaml's path says where
        }
        // Paths hold a key as written (yamlfast._walk: `key.value`), not as resolved.
        let key_column = width as usize + dash + 1;
        let node = marks.key(mapping_node, key_text, line, key_column);
        if value.is_empty() || value.starts_with('#') {
            target.set_item(&key, py.None())?;
            // Unless a block follows: libyaml's empty scalar, just after the colon.
            marks.mark(node, line, key_column + key_text.len() + 1);
            pending = Some((target.clone(), key, indent, node));
        } else {
            target.set_item(&key, reader.value(value)?)?;
            // `[]` and `{}` are collections: at the key, as blocks are.
            if value.starts_with("[]") || value.starts_with("{}") {
                marks.mark(node, line, key_column);
            } else {
                marks.mark(node, line, value_column);
            }
        }
    }
    if started {
        // An empty document starts where the stream ends: after the last line break.
        let breaks = line - 1;
        let end = (breaks + if text.ends_with('\n') { 1 } else { 2 }, 1);
        end_document(py, &documents, marks, document, root, mark.unwrap_or(end))?;
    }
    Ok(documents)
}
