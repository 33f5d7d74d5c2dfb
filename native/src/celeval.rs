//! Pure: a CEL evaluator for the guardrail rules' quick checks, over Python objects as read.
//!
//! The expressions are parsed by the `cel` crate (its parser expands the macros into
//! comprehensions) and compiled here into `Node`s; evaluation reads the Python dicts, lists
//! and scalars in place (no conversion of the object). It is strict: every operation
//! accepts only the types it knows and errs otherwise, and a few that the reference
//! (cel-expr-python, cel-go at the API server) might answer differently err too
//! (`string` of a double, regular expressions beyond a plain subset, `trim` of non-ASCII
//! text). An error is an answer the caller does not trust: it evaluates the expression
//! the reference way. Functions the rules do not call do not compile (ValueError).
//!
//! Semantics follow cel-go as the API server configures it: heterogeneous equality with
//! numbers compared by value, `&&` and `||` that absorb an error when the other side
//! decides, comprehensions as the macros expand them, optional values (`.?`, `[?]`,
//! `orValue`, `hasValue`), the strings extension counting code points.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::Mutex;

use cel::common::ast::{operators, EntryExpr, Expr, IdedExpr, LiteralValue};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use regex::Regex;

/// Deeper Python values than this are not read (an error: the reference decides).
const DEPTH: usize = 200;

/// An evaluation error; its text is for tests and debugging only.
type Fail = &'static str;
type R<T> = Result<T, Fail>;

#[derive(Debug)]
enum Func {
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Size,
    String,
    IndexOf,
    LastIndexOf,
    Substring,
    LowerAscii,
    Trim,
    Split,
    Join,
    OrValue,
    HasValue,
    Value,
}

fn function(name: &str) -> Option<Func> {
    Some(match name {
        "contains" => Func::Contains,
        "startsWith" => Func::StartsWith,
        "endsWith" => Func::EndsWith,
        "matches" => Func::Matches,
        "size" => Func::Size,
        "string" => Func::String,
        "indexOf" => Func::IndexOf,
        "lastIndexOf" => Func::LastIndexOf,
        "substring" => Func::Substring,
        "lowerAscii" => Func::LowerAscii,
        "trim" => Func::Trim,
        "split" => Func::Split,
        "join" => Func::Join,
        "orValue" => Func::OrValue,
        "hasValue" => Func::HasValue,
        "value" => Func::Value,
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    In,
    Index,
    OptIndex,
}

#[derive(Debug)]
enum Node {
    Literal(Lit),
    /// A comprehension's variable or accumulator, by its slot.
    Local(usize),
    /// `object`, `params` or another name the caller binds, by its position.
    Input(usize),
    /// `variables.<name>`, by position.
    Variable(usize),
    Select(Box<Node>, Py<PyString>),
    Has(Box<Node>, Py<PyString>),
    OptSelect(Box<Node>, Py<PyString>),
    /// `base.?a.?b.orValue(default)` in one step: the fields in order, no optional values.
    OrValuePath(Box<Node>, Vec<Py<PyString>>, Box<Node>),
    Not(Box<Node>),
    Negate(Box<Node>),
    NotStrictlyFalse(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    /// A function: the receiver first, when called as a method.
    Call(Func, Vec<Node>),
    /// `matches` with a literal pattern, compiled once.
    MatchesLiteral(Box<Node>, Regex),
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
    Loop(Box<Comprehension>),
}

#[derive(Debug)]
struct Comprehension {
    range: Node,
    var: usize,
    accu: usize,
    init: Node,
    condition: Node,
    step: Node,
    result: Node,
}

#[derive(Debug)]
enum Lit {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Arc<str>),
}

/// A value: Python's as read (dicts, lists, strings stay Python objects), or made here.
#[derive(Clone)]
enum V<'py> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Double(f64),
    Str(Arc<str>),
    PyStr(Bound<'py, PyString>),
    PyList(Bound<'py, PyList>),
    PyDict(Bound<'py, PyDict>),
    List(Rc<Vec<V<'py>>>),
    Map(Rc<Vec<(V<'py>, V<'py>)>>),
    Optional(Option<Rc<V<'py>>>),
}

/// A Python value read as CEL: only the types YAML gives (dict, list, str, int, float,
/// bool, None), exactly; anything else is an error.
fn from_python<'py>(value: &Bound<'py, PyAny>) -> R<V<'py>> {
    if let Ok(text) = value.cast_exact::<PyString>() {
        // Text that is not UTF-8 (a lone surrogate) is the reference's to judge (NUL too:
        // `convertible` refuses such inputs whole, once evaluated).
        text.to_str().map_err(|_| "a string that is not UTF-8")?;
        return Ok(V::PyStr(text.clone()));
    }
    if let Ok(dict) = value.cast_exact::<PyDict>() {
        return Ok(V::PyDict(dict.clone()));
    }
    if let Ok(list) = value.cast_exact::<PyList>() {
        return Ok(V::PyList(list.clone()));
    }
    if value.is_none() {
        return Ok(V::Null);
    }
    if let Ok(flag) = value.cast_exact::<PyBool>() {
        return Ok(V::Bool(flag.is_true()));
    }
    if value.is_exact_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .map(V::Int)
            .map_err(|_| "int beyond int64");
    }
    if let Ok(number) = value.cast_exact::<PyFloat>() {
        return Ok(V::Double(number.value()));
    }
    Err("a Python value of another type")
}

/// Whether the reference converts the whole value (cel-expr-python converts all of an
/// input, what the expression reads or not, and errs on the rest: ints beyond int64 and
/// uint64, map keys that are not strings, ints or bools, tuples, sets, dates and the like).
/// Narrower here: bytes are left to the reference, and ints beyond int64.
fn convertible(value: &Bound<'_, PyAny>, depth: usize) -> bool {
    if depth > DEPTH {
        return false;
    }
    if let Ok(dict) = value.cast_exact::<PyDict>() {
        return dict.iter().all(|(key, item)| {
            (convertible_text(&key)
                || key.is_exact_instance_of::<PyBool>()
                || (key.is_exact_instance_of::<PyInt>() && key.extract::<i64>().is_ok()))
                && convertible(&item, depth + 1)
        });
    }
    if let Ok(list) = value.cast_exact::<PyList>() {
        return list.iter().all(|item| convertible(&item, depth + 1));
    }
    if value.is_exact_instance_of::<PyInt>() {
        return value.extract::<i64>().is_ok();
    }
    convertible_text(value)
        || value.is_none()
        || value.is_exact_instance_of::<PyBool>()
        || value.is_exact_instance_of::<PyFloat>()
}

/// A string the reference converts as it is: cel-expr-python ends one at NUL.
fn convertible_text(value: &Bound<'_, PyAny>) -> bool {
    value
        .cast_exact::<PyString>()
        .is_ok_and(|text| text.to_str().is_ok_and(|content| !content.contains('\0')))
}

fn to_python<'py>(py: Python<'py>, value: &V<'py>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        V::Null => py.None().into_bound(py),
        V::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        V::Int(number) => number.into_pyobject(py)?.into_any(),
        V::UInt(number) => number.into_pyobject(py)?.into_any(),
        V::Double(number) => PyFloat::new(py, *number).into_any(),
        V::Str(text) => PyString::new(py, text).into_any(),
        V::PyStr(text) => text.clone().into_any(),
        V::PyList(list) => list.clone().into_any(),
        V::PyDict(dict) => dict.clone().into_any(),
        V::List(items) => {
            let list = PyList::empty(py);
            for item in items.iter() {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        V::Map(entries) => {
            let dict = PyDict::new(py);
            for (key, item) in entries.iter() {
                dict.set_item(to_python(py, key)?, to_python(py, item)?)?;
            }
            dict.into_any()
        }
        V::Optional(_) => {
            return Err(PyValueError::new_err(
                "an optional value has no Python form here",
            ))
        }
    })
}

/// The text of a string value; None for another type.
fn text<'a>(value: &'a V<'_>) -> Option<&'a str> {
    match value {
        V::Str(text) => Some(text),
        V::PyStr(text) => text.to_str().ok(),
        _ => None,
    }
}

fn string<'a>(value: &'a V<'_>) -> R<&'a str> {
    text(value).ok_or("not a string")
}

fn int(value: &V<'_>) -> R<i64> {
    match value {
        V::Int(number) => Ok(*number),
        _ => Err("not an int"),
    }
}

fn boolean(value: &V<'_>) -> R<bool> {
    match value {
        V::Bool(flag) => Ok(*flag),
        _ => Err("not a bool"),
    }
}

/// Two numbers compared by value across int, uint and double (CEL compares them so);
/// None for NaN and for values that are not numbers.
fn compare_numbers(left: &V<'_>, right: &V<'_>) -> Option<Ordering> {
    use V::{Double, Int, UInt};
    match (left, right) {
        (Int(a), Int(b)) => Some(a.cmp(b)),
        (UInt(a), UInt(b)) => Some(a.cmp(b)),
        (Int(a), UInt(b)) => Some(if *a < 0 {
            Ordering::Less
        } else {
            (*a as u64).cmp(b)
        }),
        (UInt(a), Int(b)) => Some(if *b < 0 {
            Ordering::Greater
        } else {
            a.cmp(&(*b as u64))
        }),
        (Double(a), Double(b)) => a.partial_cmp(b),
        (Double(a), Int(b)) => compare_double_int(*a, *b),
        (Int(a), Double(b)) => compare_double_int(*b, *a).map(Ordering::reverse),
        (Double(a), UInt(b)) => compare_double_uint(*a, *b),
        (UInt(a), Double(b)) => compare_double_uint(*b, *a).map(Ordering::reverse),
        _ => None,
    }
}

fn compare_double_int(a: f64, b: i64) -> Option<Ordering> {
    if a.is_nan() {
        return None;
    }
    // Every i64 lies within [-2^63, 2^63); beyond those bounds the double decides alone.
    if a < -9_223_372_036_854_775_808.0 {
        return Some(Ordering::Less);
    }
    if a >= 9_223_372_036_854_775_808.0 {
        return Some(Ordering::Greater);
    }
    let whole = a.trunc();
    let as_int = whole as i64;
    match as_int.cmp(&b) {
        Ordering::Equal => whole.partial_cmp(&a).map(Ordering::reverse),
        other => Some(other),
    }
}

fn compare_double_uint(a: f64, b: u64) -> Option<Ordering> {
    if a.is_nan() {
        return None;
    }
    if a < 0.0 {
        return Some(Ordering::Less);
    }
    if a >= 18_446_744_073_709_551_616.0 {
        return Some(Ordering::Greater);
    }
    let whole = a.trunc();
    let as_uint = whole as u64;
    match as_uint.cmp(&b) {
        Ordering::Equal => whole.partial_cmp(&a).map(Ordering::reverse),
        other => Some(other),
    }
}

/// CEL's equality (heterogeneous: values of different types are unequal, numbers compare
/// by value). Errs where a list or map's items cannot be read.
fn equal(left: &V<'_>, right: &V<'_>, depth: usize) -> R<bool> {
    if depth > DEPTH {
        return Err("too deep");
    }
    if let (Some(a), Some(b)) = (text(left), text(right)) {
        return Ok(a == b);
    }
    if let Some(order) = compare_numbers(left, right) {
        return Ok(order == Ordering::Equal);
    }
    Ok(match (left, right) {
        (V::Null, V::Null) => true,
        (V::Bool(a), V::Bool(b)) => a == b,
        (V::Double(_), V::Double(_) | V::Int(_) | V::UInt(_))
        | (V::Int(_) | V::UInt(_), V::Double(_)) => false, // NaN
        (V::Optional(a), V::Optional(b)) => match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => equal(a, b, depth + 1)?,
            _ => false,
        },
        _ if is_list(left) && is_list(right) => {
            let (a, b) = (items(left)?, items(right)?);
            if a.len() != b.len() {
                return Ok(false);
            }
            for (x, y) in a.iter().zip(b.iter()) {
                if !equal(x, y, depth + 1)? {
                    return Ok(false);
                }
            }
            true
        }
        _ if is_map(left) && is_map(right) => {
            let (a, b) = (entries(left)?, entries(right)?);
            if a.len() != b.len() {
                return Ok(false);
            }
            for (key, value) in &a {
                match lookup(right, key, depth + 1)? {
                    Some(other) => {
                        if !equal(value, &other, depth + 1)? {
                            return Ok(false);
                        }
                    }
                    None => return Ok(false),
                }
            }
            true
        }
        _ => false,
    })
}

fn is_list(value: &V<'_>) -> bool {
    matches!(value, V::List(_) | V::PyList(_))
}

fn is_map(value: &V<'_>) -> bool {
    matches!(value, V::Map(_) | V::PyDict(_))
}

fn items<'py>(value: &V<'py>) -> R<Vec<V<'py>>> {
    match value {
        V::List(items) => Ok(items.as_ref().clone()),
        V::PyList(list) => list.iter().map(|item| from_python(&item)).collect(),
        _ => Err("not a list"),
    }
}

fn entries<'py>(value: &V<'py>) -> R<Vec<(V<'py>, V<'py>)>> {
    match value {
        V::Map(entries) => Ok(entries.as_ref().clone()),
        V::PyDict(dict) => dict
            .iter()
            .map(|(key, item)| Ok((map_key(&key)?, from_python(&item)?)))
            .collect(),
        _ => Err("not a map"),
    }
}

/// A Python dict's key as CEL reads it: strings, ints and bools only.
fn map_key<'py>(key: &Bound<'py, PyAny>) -> R<V<'py>> {
    match from_python(key)? {
        value @ (V::PyStr(_) | V::Int(_) | V::Bool(_)) => Ok(value),
        _ => Err("a map key of another type"),
    }
}

/// `map[key]`: the value, None when the key is absent. Only string keys are looked up in
/// Python dicts (Python's own equality would find 1 for True, or 1.0 for 1).
fn lookup<'py>(map: &V<'py>, key: &V<'py>, depth: usize) -> R<Option<V<'py>>> {
    match map {
        V::PyDict(dict) => {
            let found = match key {
                V::PyStr(name) => dict.get_item(name),
                V::Str(name) => dict.get_item(name.as_ref()),
                _ => return Err("a lookup by a key that is not a string"),
            };
            match found.map_err(|_| "lookup failed")? {
                Some(item) => Ok(Some(from_python(&item)?)),
                None => Ok(None),
            }
        }
        V::Map(entries) => {
            for (name, item) in entries.iter() {
                if equal(name, key, depth + 1)? {
                    return Ok(Some(item.clone()));
                }
            }
            Ok(None)
        }
        _ => Err("not a map"),
    }
}

fn field<'py>(operand: &V<'py>, name: &Py<PyString>, py: Python<'py>) -> R<Option<V<'py>>> {
    match operand {
        V::PyDict(dict) => match dict.get_item(name.bind(py)).map_err(|_| "lookup failed")? {
            Some(item) => Ok(Some(from_python(&item)?)),
            None => Ok(None),
        },
        V::Map(_) => lookup(operand, &V::PyStr(name.bind(py).clone()), 0),
        _ => Err("a field of a value that is not a map"),
    }
}

fn size(value: &V<'_>) -> R<i64> {
    let count = match value {
        V::Str(text) => text.chars().count(),
        V::PyStr(text) => text.len().map_err(|_| "size failed")?,
        V::PyList(list) => list.len(),
        V::PyDict(dict) => dict.len(),
        V::List(items) => items.len(),
        V::Map(entries) => entries.len(),
        _ => return Err("size of another type"),
    };
    i64::try_from(count).map_err(|_| "size beyond int64")
}

/// The code point index of the byte offset `at` in `haystack`.
fn code_points(haystack: &str, at: usize) -> i64 {
    haystack[..at].chars().count() as i64
}

/// The byte offset of code point `index` (None beyond the end).
fn byte_offset(text: &str, index: i64) -> Option<usize> {
    let index = usize::try_from(index).ok()?;
    if index == 0 {
        return Some(0);
    }
    let mut count = 0;
    for (offset, _) in text.char_indices() {
        if count == index {
            return Some(offset);
        }
        count += 1;
    }
    (count == index).then_some(text.len())
}

/// Patterns whose meaning RE2 and the `regex` crate share: ASCII, no flags, no escapes
/// but of punctuation, no Perl or Unicode classes (RE2's are ASCII, the crate's Unicode),
/// no counted repetition beyond RE2's limit of 1000 (the crate takes more), no repetition
/// of a repetition (`a**`, `a{2}{3}`, `a???`: RE2 refuses them) and no class set operations
/// (`&&`, `--`, `~~`: the crate's, literal characters to RE2).
fn plain_pattern(pattern: &str) -> bool {
    if !pattern.is_ascii() || ["(?", "&&", "--", "~~"].iter().any(|s| pattern.contains(s)) {
        return false;
    }
    // A repetition may be followed by one `?` (lazy), by nothing else that repeats.
    let bytes = pattern.as_bytes();
    let repeats = |b: u8| b"*+?}".contains(&b);
    if bytes
        .windows(2)
        .any(|w| repeats(w[0]) && b"*+{".contains(&w[1]))
        || bytes
            .windows(3)
            .any(|w| repeats(w[0]) && w[1] == b'?' && b"*+?{".contains(&w[2]))
    {
        return false;
    }
    let mut counts = pattern.split('{').skip(1).flat_map(|after| {
        let inside = after.split('}').next().unwrap_or("");
        inside
            .split(',')
            .map(|n| n.trim().parse::<u64>().unwrap_or(0))
    });
    if counts.any(|n| n > 1000) {
        return false;
    }
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            if c.is_ascii_alphanumeric() {
                return false;
            }
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        }
    }
    !escaped && !pattern.contains("[[:")
}

fn compile_pattern(pattern: &str) -> Option<Regex> {
    if !plain_pattern(pattern) {
        return None;
    }
    Regex::new(pattern).ok()
}

struct Env<'a, 'py> {
    py: Python<'py>,
    inputs: &'a [V<'py>],
    variables: Vec<V<'py>>,
    locals: Vec<Option<V<'py>>>,
    patterns: &'a Mutex<HashMap<String, Option<Regex>>>,
}

impl<'py> Env<'_, 'py> {
    fn eval(&mut self, node: &Node) -> R<V<'py>> {
        match node {
            Node::Literal(literal) => Ok(match literal {
                Lit::Null => V::Null,
                Lit::Bool(flag) => V::Bool(*flag),
                Lit::Int(number) => V::Int(*number),
                Lit::UInt(number) => V::UInt(*number),
                Lit::Double(number) => V::Double(*number),
                Lit::Str(text) => V::Str(text.clone()),
            }),
            Node::Local(slot) => self.locals[*slot].clone().ok_or("unbound"),
            Node::Input(index) => Ok(self.inputs[*index].clone()),
            Node::Variable(index) => self.variables.get(*index).cloned().ok_or("unbound"),
            Node::Select(operand, name) => {
                let operand = self.eval(operand)?;
                field(&operand, name, self.py)?.ok_or("no such key")
            }
            Node::Has(operand, name) => {
                let operand = self.eval(operand)?;
                Ok(V::Bool(field(&operand, name, self.py)?.is_some()))
            }
            Node::OptSelect(operand, name) => match self.eval(operand)? {
                V::Optional(None) => Ok(V::Optional(None)),
                V::Optional(Some(inner)) => {
                    Ok(V::Optional(field(&inner, name, self.py)?.map(Rc::new)))
                }
                operand => Ok(V::Optional(field(&operand, name, self.py)?.map(Rc::new))),
            },
            Node::OrValuePath(base, fields, default) => {
                let mut value = match self.eval(base)? {
                    V::Optional(None) => return self.eval(default),
                    V::Optional(Some(inner)) => inner.as_ref().clone(),
                    value => value,
                };
                for name in fields {
                    match field(&value, name, self.py)? {
                        Some(inner) => value = inner,
                        None => return self.eval(default),
                    }
                }
                Ok(value)
            }
            Node::Not(operand) => Ok(V::Bool(!boolean(&self.eval(operand)?)?)),
            Node::Negate(operand) => match self.eval(operand)? {
                V::Int(number) => number.checked_neg().map(V::Int).ok_or("overflow"),
                V::Double(number) => Ok(V::Double(-number)),
                _ => Err("negation of another type"),
            },
            Node::NotStrictlyFalse(operand) => {
                Ok(V::Bool(!matches!(self.eval(operand), Ok(V::Bool(false)))))
            }
            Node::And(left, right) => self.logic(left, right, false),
            Node::Or(left, right) => self.logic(left, right, true),
            Node::Cond(condition, then, otherwise) => {
                if boolean(&self.eval(condition)?)? {
                    self.eval(then)
                } else {
                    self.eval(otherwise)
                }
            }
            Node::Binary(op, left, right) => {
                let left = self.eval(left)?;
                let right = self.eval(right)?;
                binary(*op, &left, &right)
            }
            Node::Call(func, args) => match args.as_slice() {
                [a] => {
                    let a = self.eval(a)?;
                    self.call(func, &[a])
                }
                [a, b] => {
                    let (a, b) = (self.eval(a)?, self.eval(b)?);
                    self.call(func, &[a, b])
                }
                [a, b, c] => {
                    let (a, b, c) = (self.eval(a)?, self.eval(b)?, self.eval(c)?);
                    self.call(func, &[a, b, c])
                }
                _ => Err("no such overload"),
            },
            Node::MatchesLiteral(operand, pattern) => {
                let operand = self.eval(operand)?;
                Ok(V::Bool(pattern.is_match(string(&operand)?)))
            }
            Node::List(nodes) => {
                let mut values = Vec::with_capacity(nodes.len());
                for node in nodes {
                    values.push(self.eval(node)?);
                }
                Ok(V::List(Rc::new(values)))
            }
            Node::Map(pairs) => {
                let mut values: Vec<(V<'py>, V<'py>)> = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let key = self.eval(key)?;
                    if !matches!(
                        key,
                        V::Str(_) | V::PyStr(_) | V::Int(_) | V::UInt(_) | V::Bool(_)
                    ) {
                        return Err("a map key of another type");
                    }
                    for (other, _) in &values {
                        if equal(other, &key, 0)? {
                            return Err("a repeated map key");
                        }
                    }
                    let value = self.eval(value)?;
                    values.push((key, value));
                }
                Ok(V::Map(Rc::new(values)))
            }
            Node::Loop(comprehension) => self.comprehension(comprehension),
        }
    }

    /// `&&` (`decisive` false) and `||` (`decisive` true) as CEL has them: a side with
    /// the deciding value wins over an error on the other side.
    fn logic(&mut self, left: &Node, right: &Node, decisive: bool) -> R<V<'py>> {
        let left = self.eval(left).and_then(|v| boolean(&v));
        if left == Ok(decisive) {
            return Ok(V::Bool(decisive));
        }
        let right = self.eval(right).and_then(|v| boolean(&v));
        if right == Ok(decisive) {
            return Ok(V::Bool(decisive));
        }
        left?;
        right?;
        Ok(V::Bool(!decisive))
    }

    fn comprehension(&mut self, c: &Comprehension) -> R<V<'py>> {
        let range = self.eval(&c.range)?;
        let accu = self.eval(&c.init)?;
        let elements: Vec<V<'py>> = match &range {
            V::PyList(list) => {
                return self.over(c, accu, list.len(), |at| {
                    from_python(&list.get_item(at).map_err(|_| "a list that changed")?)
                })
            }
            V::List(items) => return self.over(c, accu, items.len(), |at| Ok(items[at].clone())),
            // The reference's maps have their own order: only a loop whose answer does not
            // depend on it (exists, all, exists_one: a bool or a count) is evaluated here.
            V::Map(_) | V::PyDict(_) if matches!(accu, V::Bool(_) | V::Int(_)) => {
                entries(&range)?.into_iter().map(|(key, _)| key).collect()
            }
            V::Map(_) | V::PyDict(_) => return Err("a list made from a map's keys"),
            _ => return Err("a comprehension over another type"),
        };
        self.over(c, accu, elements.len(), |at| Ok(elements[at].clone()))
    }

    /// The loop over `count` elements, `element(i)` the i-th, from the accumulator `accu`.
    fn over(
        &mut self,
        c: &Comprehension,
        accu: V<'py>,
        count: usize,
        element: impl Fn(usize) -> R<V<'py>>,
    ) -> R<V<'py>> {
        let saved = (self.locals[c.var].take(), self.locals[c.accu].take());
        self.locals[c.accu] = Some(accu);
        let outcome = self.iterate(c, count, element);
        let result = outcome.and_then(|()| self.eval(&c.result));
        self.locals[c.var] = saved.0;
        self.locals[c.accu] = saved.1;
        result
    }

    fn iterate(
        &mut self,
        c: &Comprehension,
        count: usize,
        element: impl Fn(usize) -> R<V<'py>>,
    ) -> R<()> {
        for at in 0..count {
            if !boolean(&self.eval(&c.condition)?)? {
                break;
            }
            self.locals[c.var] = Some(element(at)?);
            // CEL's `exists` and `all` carry an error in the accumulator, and a later
            // element may still decide; rather than model error values, the loop ends with
            // the error, and the caller evaluates the reference way.
            self.locals[c.accu] = Some(self.eval(&c.step)?);
        }
        Ok(())
    }

    fn call(&mut self, func: &Func, args: &[V<'py>]) -> R<V<'py>> {
        match (func, args) {
            (Func::Contains, [a, b]) => Ok(V::Bool(string(a)?.contains(string(b)?))),
            (Func::StartsWith, [a, b]) => Ok(V::Bool(string(a)?.starts_with(string(b)?))),
            (Func::EndsWith, [a, b]) => Ok(V::Bool(string(a)?.ends_with(string(b)?))),
            (Func::Matches, [a, b]) => {
                let pattern = string(b)?;
                let mut cache = self.patterns.lock().map_err(|_| "poisoned")?;
                let compiled = cache
                    .entry(pattern.to_owned())
                    .or_insert_with(|| compile_pattern(pattern));
                match compiled {
                    Some(regex) => Ok(V::Bool(regex.is_match(string(a)?))),
                    None => Err("a pattern left to RE2"),
                }
            }
            (Func::Size, [a]) => Ok(V::Int(size(a)?)),
            (Func::String, [a]) => match a {
                V::Str(_) | V::PyStr(_) => Ok(a.clone()),
                V::Int(number) => Ok(V::Str(number.to_string().into())),
                V::UInt(number) => Ok(V::Str(number.to_string().into())),
                V::Bool(flag) => Ok(V::Str(if *flag { "true" } else { "false" }.into())),
                _ => Err("string() of another type"),
            },
            (Func::IndexOf, [a, b]) => index_of(a, b, false),
            (Func::LastIndexOf, [a, b]) => index_of(a, b, true),
            (Func::Substring, [a, start]) => {
                let text = string(a)?;
                let begin = byte_offset(text, int(start)?).ok_or("index out of range")?;
                Ok(V::Str(text[begin..].into()))
            }
            (Func::Substring, [a, start, end]) => {
                let text = string(a)?;
                let (start, end) = (int(start)?, int(end)?);
                if end < start {
                    return Err("end before start");
                }
                // cel-expr-python errs for an end at the string's end (unless the range is
                // empty there), where cel-go gives the rest: left to the reference.
                if end != start && end >= size(a)? {
                    return Err("a substring to the end, by its end");
                }
                let begin = byte_offset(text, start).ok_or("index out of range")?;
                let finish = byte_offset(text, end).ok_or("index out of range")?;
                Ok(V::Str(text[begin..finish].into()))
            }
            (Func::LowerAscii, [a]) => Ok(V::Str(string(a)?.to_ascii_lowercase().into())),
            (Func::Trim, [a]) => {
                let text = string(a)?;
                if !text.is_ascii() {
                    return Err("trim of non-ASCII text");
                }
                Ok(V::Str(
                    text.trim_matches(|c: char| " \t\n\x0b\x0c\r".contains(c))
                        .into(),
                ))
            }
            (Func::Split, [a, b]) => {
                let (text, separator) = (string(a)?, string(b)?);
                if separator.is_empty() {
                    return Err("split('')");
                }
                Ok(V::List(Rc::new(
                    text.split(separator)
                        .map(|part| V::Str(part.into()))
                        .collect(),
                )))
            }
            (Func::Join, [list]) => join(list, ""),
            (Func::Join, [list, separator]) => join(list, string(separator)?),
            (Func::OrValue, [V::Optional(found), default]) => Ok(found
                .as_ref()
                .map_or_else(|| default.clone(), |v| v.as_ref().clone())),
            (Func::HasValue, [V::Optional(found)]) => Ok(V::Bool(found.is_some())),
            (Func::Value, [V::Optional(found)]) => found
                .as_ref()
                .map(|v| v.as_ref().clone())
                .ok_or("optional.none() dereference"),
            _ => Err("no such overload"),
        }
    }
}

/// `indexOf` (the first) or `lastIndexOf` (the last): the code point index, -1 if absent.
/// An empty needle is left to the reference (the libraries answer it differently).
fn index_of<'py>(a: &V<'py>, b: &V<'py>, last: bool) -> R<V<'py>> {
    let (haystack, needle) = (string(a)?, string(b)?);
    if needle.is_empty() {
        return Err("indexOf('') or lastIndexOf('')");
    }
    let found = if last {
        haystack.rfind(needle)
    } else {
        haystack.find(needle)
    };
    Ok(V::Int(found.map_or(-1, |at| code_points(haystack, at))))
}

fn join<'py>(list: &V<'py>, separator: &str) -> R<V<'py>> {
    let values = items(list)?;
    let mut parts = Vec::with_capacity(values.len());
    for value in &values {
        parts.push(string(value)?);
    }
    Ok(V::Str(parts.join(separator).into()))
}

fn binary<'py>(op: Op, left: &V<'py>, right: &V<'py>) -> R<V<'py>> {
    match op {
        Op::Eq => Ok(V::Bool(equal(left, right, 0)?)),
        Op::Ne => Ok(V::Bool(!equal(left, right, 0)?)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let order = if let (Some(a), Some(b)) = (text(left), text(right)) {
                a.cmp(b)
            } else if let (V::Bool(a), V::Bool(b)) = (left, right) {
                a.cmp(b)
            } else {
                compare_numbers(left, right).ok_or("no ordering")?
            };
            Ok(V::Bool(match op {
                Op::Lt => order == Ordering::Less,
                Op::Le => order != Ordering::Greater,
                Op::Gt => order == Ordering::Greater,
                _ => order != Ordering::Less,
            }))
        }
        Op::Add => match (left, right) {
            (V::Int(a), V::Int(b)) => a.checked_add(*b).map(V::Int).ok_or("overflow"),
            (V::UInt(a), V::UInt(b)) => a.checked_add(*b).map(V::UInt).ok_or("overflow"),
            (V::Double(a), V::Double(b)) => Ok(V::Double(a + b)),
            _ if text(left).is_some() && text(right).is_some() => {
                let (a, b) = (string(left)?, string(right)?);
                let mut joined = String::with_capacity(a.len() + b.len());
                joined.push_str(a);
                joined.push_str(b);
                Ok(V::Str(joined.into()))
            }
            _ if is_list(left) && is_list(right) => {
                let mut joined = items(left)?;
                joined.extend(items(right)?);
                Ok(V::List(Rc::new(joined)))
            }
            _ => Err("no such overload for +"),
        },
        Op::Sub => match (left, right) {
            (V::Int(a), V::Int(b)) => a.checked_sub(*b).map(V::Int).ok_or("overflow"),
            (V::Double(a), V::Double(b)) => Ok(V::Double(a - b)),
            _ => Err("no such overload for -"),
        },
        Op::In => match right {
            V::List(_) | V::PyList(_) => {
                for item in items(right)? {
                    if equal(left, &item, 0)? {
                        return Ok(V::Bool(true));
                    }
                }
                Ok(V::Bool(false))
            }
            V::Map(_) | V::PyDict(_) => Ok(V::Bool(lookup(right, left, 0)?.is_some())),
            _ => Err("in of another type"),
        },
        Op::Index => index(left, right)?.ok_or("no such key or index"),
        Op::OptIndex => match left {
            V::Optional(None) => Ok(V::Optional(None)),
            V::Optional(Some(inner)) => Ok(V::Optional(index(inner, right)?.map(Rc::new))),
            _ => Ok(V::Optional(index(left, right)?.map(Rc::new))),
        },
    }
}

/// `container[key]`: None when the key or index is absent; an error for other types.
fn index<'py>(container: &V<'py>, key: &V<'py>) -> R<Option<V<'py>>> {
    match container {
        V::Map(_) | V::PyDict(_) => lookup(container, key, 0),
        V::List(_) | V::PyList(_) => {
            let position = int(key)?;
            let values = items(container)?;
            Ok(usize::try_from(position)
                .ok()
                .and_then(|at| values.get(at).cloned()))
        }
        _ => Err("index of another type"),
    }
}

/// Compiling: names to slots, functions to `Func`, literals' patterns to regexes.
struct Compiler<'py> {
    py: Python<'py>,
    inputs: Vec<String>,
    variables: Vec<String>,
    scopes: Vec<(String, usize)>,
    slots: usize,
}

impl Compiler<'_> {
    fn node(&mut self, expr: &IdedExpr) -> Result<Node, String> {
        Ok(match &expr.expr {
            Expr::Literal(literal) => Node::Literal(match literal {
                LiteralValue::Null => Lit::Null,
                LiteralValue::Boolean(flag) => Lit::Bool(*flag.inner()),
                LiteralValue::Int(number) => Lit::Int(*number.inner()),
                LiteralValue::UInt(number) => Lit::UInt(*number.inner()),
                LiteralValue::Double(number) => Lit::Double(*number.inner()),
                LiteralValue::String(text) => Lit::Str(text.inner().into()),
                LiteralValue::Bytes(_) => return Err("bytes literals are not supported".into()),
            }),
            Expr::Ident(name) => {
                if let Some((_, slot)) = self.scopes.iter().rev().find(|(n, _)| n == name) {
                    Node::Local(*slot)
                } else if let Some(at) = self.inputs.iter().position(|n| n == name) {
                    Node::Input(at)
                } else {
                    return Err(format!("unknown name {name}"));
                }
            }
            Expr::Select(select) => {
                if !select.test {
                    if let Expr::Ident(name) = &select.operand.expr {
                        let local = self.scopes.iter().any(|(n, _)| n == name);
                        if name == "variables" && !local {
                            let at = self.variables.iter().position(|n| *n == select.field);
                            return at
                                .map(Node::Variable)
                                .ok_or_else(|| format!("unknown variable {}", select.field));
                        }
                    }
                }
                let operand = Box::new(self.node(&select.operand)?);
                let name = PyString::intern(self.py, &select.field).unbind();
                if select.test {
                    Node::Has(operand, name)
                } else {
                    Node::Select(operand, name)
                }
            }
            Expr::Call(call) => self.call(&call.func_name, call.target.as_deref(), &call.args)?,
            Expr::List(list) => {
                if !list.optional_indices.is_empty() {
                    return Err("optional list items are not supported".into());
                }
                Node::List(
                    list.elements
                        .iter()
                        .map(|e| self.node(e))
                        .collect::<Result<_, _>>()?,
                )
            }
            Expr::Map(map) => {
                let mut pairs = Vec::new();
                for entry in &map.entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(pair) if !pair.optional => {
                            pairs.push((self.node(&pair.key)?, self.node(&pair.value)?));
                        }
                        _ => return Err("optional map entries are not supported".into()),
                    }
                }
                Node::Map(pairs)
            }
            Expr::Comprehension(c) => {
                if c.iter_var2.is_some() {
                    return Err("two-variable comprehensions are not supported".into());
                }
                let range = self.node(&c.iter_range)?;
                let init = self.node(&c.accu_init)?;
                let accu = self.slot(&c.accu_var);
                let condition = self.node(&c.loop_cond)?;
                let var = self.slot(&c.iter_var);
                let step = self.node(&c.loop_step);
                self.scopes.pop();
                let step = step?;
                let result = self.node(&c.result);
                self.scopes.pop();
                Node::Loop(Box::new(Comprehension {
                    range,
                    var,
                    accu,
                    init,
                    condition,
                    step,
                    result: result?,
                }))
            }
            Expr::Struct(_) | Expr::Unspecified => {
                return Err("messages are not supported".into());
            }
        })
    }

    fn slot(&mut self, name: &str) -> usize {
        let slot = self.slots;
        self.slots += 1;
        self.scopes.push((name.to_owned(), slot));
        slot
    }

    fn call(
        &mut self,
        name: &str,
        target: Option<&IdedExpr>,
        args: &[IdedExpr],
    ) -> Result<Node, String> {
        let mut nodes = Vec::with_capacity(args.len() + 1);
        if let Some(target) = target {
            nodes.push(self.node(target)?);
        }
        for arg in args {
            nodes.push(self.node(arg)?);
        }
        let two = |nodes: &mut Vec<Node>| -> (Box<Node>, Box<Node>) {
            let right = nodes.pop().unwrap();
            let left = nodes.pop().unwrap();
            (Box::new(left), Box::new(right))
        };
        let binary = |op: Op, nodes: &mut Vec<Node>| {
            let (left, right) = two(nodes);
            Node::Binary(op, left, right)
        };
        let operator = target.is_none();
        Ok(match (name, nodes.len()) {
            (operators::LOGICAL_AND, 2) if operator => {
                let (left, right) = two(&mut nodes);
                Node::And(left, right)
            }
            (operators::LOGICAL_OR, 2) if operator => {
                let (left, right) = two(&mut nodes);
                Node::Or(left, right)
            }
            (operators::LOGICAL_NOT, 1) if operator => Node::Not(Box::new(nodes.remove(0))),
            (operators::NEGATE, 1) if operator => Node::Negate(Box::new(nodes.remove(0))),
            (operators::NOT_STRICTLY_FALSE, 1) if operator => {
                Node::NotStrictlyFalse(Box::new(nodes.remove(0)))
            }
            (operators::CONDITIONAL, 3) if operator => {
                let otherwise = nodes.pop().unwrap();
                let then = nodes.pop().unwrap();
                let condition = nodes.pop().unwrap();
                Node::Cond(Box::new(condition), Box::new(then), Box::new(otherwise))
            }
            (operators::EQUALS, 2) if operator => binary(Op::Eq, &mut nodes),
            (operators::NOT_EQUALS, 2) if operator => binary(Op::Ne, &mut nodes),
            (operators::LESS, 2) if operator => binary(Op::Lt, &mut nodes),
            (operators::LESS_EQUALS, 2) if operator => binary(Op::Le, &mut nodes),
            (operators::GREATER, 2) if operator => binary(Op::Gt, &mut nodes),
            (operators::GREATER_EQUALS, 2) if operator => binary(Op::Ge, &mut nodes),
            (operators::ADD, 2) if operator => binary(Op::Add, &mut nodes),
            (operators::SUBSTRACT, 2) if operator => binary(Op::Sub, &mut nodes),
            (operators::IN, 2) if operator => binary(Op::In, &mut nodes),
            (operators::INDEX, 2) if operator => binary(Op::Index, &mut nodes),
            (operators::OPT_INDEX, 2) if operator => binary(Op::OptIndex, &mut nodes),
            (operators::OPT_SELECT, 2) if operator => {
                let field = nodes.pop().unwrap();
                let operand = nodes.pop().unwrap();
                let Node::Literal(Lit::Str(text)) = field else {
                    return Err("`.?` with a field that is not a name".into());
                };
                let name = PyString::intern(self.py, &text).unbind();
                Node::OptSelect(Box::new(operand), name)
            }
            ("orValue", 2) if !operator && matches!(nodes[0], Node::OptSelect(..)) => {
                let default = nodes.pop().unwrap();
                let mut node = nodes.pop().unwrap();
                let mut fields = Vec::new();
                while let Node::OptSelect(operand, name) = node {
                    fields.push(name);
                    node = *operand;
                }
                fields.reverse();
                Node::OrValuePath(Box::new(node), fields, Box::new(default))
            }
            ("matches", 2) if !operator => {
                let pattern = nodes.pop().unwrap();
                let operand = nodes.pop().unwrap();
                match &pattern {
                    Node::Literal(Lit::Str(text)) => match compile_pattern(text) {
                        Some(regex) => Node::MatchesLiteral(Box::new(operand), regex),
                        None => Node::Call(Func::Matches, vec![operand, pattern]),
                    },
                    _ => Node::Call(Func::Matches, vec![operand, pattern]),
                }
            }
            _ => {
                let func = function(name).ok_or_else(|| format!("unsupported function {name}"))?;
                let method = matches!(
                    func,
                    Func::Contains
                        | Func::StartsWith
                        | Func::EndsWith
                        | Func::IndexOf
                        | Func::LastIndexOf
                        | Func::Substring
                        | Func::LowerAscii
                        | Func::Trim
                        | Func::Split
                        | Func::Join
                        | Func::OrValue
                        | Func::HasValue
                        | Func::Value
                );
                let global = matches!(func, Func::Size | Func::String);
                if (target.is_some() && !method && !matches!(func, Func::Size))
                    || (target.is_none() && !global)
                {
                    return Err(format!("unsupported form of {name}"));
                }
                Node::Call(func, nodes)
            }
        })
    }
}

/// A compiled expression with its variables (evaluated first, in order, as `cel.bind`
/// binds a map of them: one error among them is the expression's).
#[pyclass(frozen, module = "mooring_native")]
pub struct Expression {
    inputs: Vec<String>,
    variables: Vec<Node>,
    body: Node,
    slots: usize,
    patterns: Mutex<HashMap<String, Option<Regex>>>,
}

fn parse(source: &str) -> Result<IdedExpr, String> {
    let program = cel::Env::stdlib()
        .compile(source)
        .map_err(|e| e.to_string())?;
    Ok(IdedExpr::clone(program.expression()))
}

#[pymethods]
impl Expression {
    /// Compile `source` over the names `inputs`, with `variables` ((name, expression) pairs
    /// read as `variables.<name>`, which may not read one another). ValueError when an
    /// expression does not parse or uses what this evaluator does not have.
    #[new]
    fn new(
        py: Python<'_>,
        source: &str,
        inputs: Vec<String>,
        variables: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let mut compiler = Compiler {
            py,
            inputs,
            variables: Vec::new(),
            scopes: Vec::new(),
            slots: 0,
        };
        // A variable may not read another (compiler.variables is still empty).
        let mut compiled = Vec::with_capacity(variables.len());
        for (_, text) in &variables {
            let ast = parse(text).map_err(PyValueError::new_err)?;
            compiled.push(compiler.node(&ast).map_err(PyValueError::new_err)?);
        }
        compiler.variables = variables.into_iter().map(|(name, _)| name).collect();
        let ast = parse(source).map_err(PyValueError::new_err)?;
        let body = compiler.node(&ast).map_err(PyValueError::new_err)?;
        Ok(Expression {
            inputs: compiler.inputs,
            variables: compiled,
            body,
            slots: compiler.slots,
            patterns: Mutex::new(HashMap::new()),
        })
    }

    /// (True, value) or (False, the error's text); `values` in the order of `inputs`.
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyTuple>,
    ) -> PyResult<(bool, Bound<'py, PyAny>)> {
        match self.run(py, values)? {
            Ok(value) => Ok((true, to_python(py, &value)?)),
            Err(fail) => Ok((false, PyString::new(py, fail).into_any())),
        }
    }

    /// Whether the expression is true for `values`: False for false, for an error and
    /// for a value of another type.
    fn holds<'py>(&self, py: Python<'py>, values: &Bound<'py, PyTuple>) -> PyResult<bool> {
        Ok(matches!(self.run(py, values)?, Ok(V::Bool(true))))
    }
}

impl Expression {
    fn run<'py>(&self, py: Python<'py>, values: &Bound<'py, PyTuple>) -> PyResult<R<V<'py>>> {
        if values.len() != self.inputs.len() {
            return Err(PyValueError::new_err(format!(
                "{} values for {} inputs",
                values.len(),
                self.inputs.len()
            )));
        }
        let mut inputs = Vec::with_capacity(values.len());
        for value in values.iter() {
            match from_python(&value) {
                Ok(v) => inputs.push(v),
                Err(fail) => return Ok(Err(fail)),
            }
        }
        let mut env = Env {
            py,
            inputs: &inputs,
            variables: Vec::with_capacity(self.variables.len()),
            locals: vec![None; self.slots],
            patterns: &self.patterns,
        };
        // In order; none reads another, so each sees only those before it, never itself.
        for node in &self.variables {
            match env.eval(node) {
                Ok(value) => env.variables.push(value),
                Err(fail) => return Ok(Err(fail)),
            }
        }
        let result = env.eval(&self.body);
        // The reference converts every input whole before evaluating: a value it cannot
        // convert anywhere is its error, even where the expression does not read.
        if result.is_ok() && !values.iter().all(|value| convertible(&value, 0)) {
            return Ok(Err("an input the reference does not convert"));
        }
        Ok(result)
    }
}
