//! Aggregators: how a window folds its events into a value.
//!
//! The built-ins are [`Count`], [`Sum`], [`Min`], [`Max`], [`Avg`], [`Collect`] and [`Fold`] (a user
//! `init` + `fold`, optionally with a `merge` for session windows). Any type implementing
//! [`Aggregator`] can be used with [`WindowerBuilder::aggregator`](super::WindowerBuilder::aggregator).
//!
//! ```
//! use ember_stream::window::agg::{Aggregator, Avg, Count};
//!
//! let count = Count;
//! let mut acc = Aggregator::<&str>::init(&count);
//! count.add(&mut acc, &"a");
//! count.add(&mut acc, &"b");
//! assert_eq!(Aggregator::<&str>::result(&count, &acc), 2);
//!
//! let avg = Avg::new(|v: &u32| *v);
//! let mut acc = avg.init();
//! for v in [1u32, 2, 6] {
//!     avg.add(&mut acc, &v);
//! }
//! assert_eq!(avg.result(&acc), 3.0);
//! ```

use std::fmt;
use std::marker::PhantomData;

/// How a window turns the values of its events into a result.
///
/// `add` takes the value by reference because one event can belong to several windows (hopping,
/// sliding). `merge` combines two accumulators when session windows merge; aggregators that cannot
/// merge return `false` from [`can_merge`](Aggregator::can_merge) and cannot be used with session windows
/// (the builder says so with [`Error::MergeRequired`](super::Error::MergeRequired)).
pub trait Aggregator<V> {
    /// The running state of one window.
    type Acc;
    /// What a window emits.
    type Output;
    /// A fresh accumulator for a new window.
    fn init(&self) -> Self::Acc;
    /// Folds one event's value in.
    fn add(&self, acc: &mut Self::Acc, value: &V);
    /// The window's value.
    fn result(&self, acc: &Self::Acc) -> Self::Output;
    /// Whether [`merge`](Aggregator::merge) is implemented. Default `false`.
    fn can_merge(&self) -> bool {
        false
    }
    /// Folds `other` into `into` (session merging). Only called when [`can_merge`](Aggregator::can_merge)
    /// is `true`; the default does nothing.
    fn merge(&self, into: &mut Self::Acc, other: Self::Acc) {
        let _ = (into, other);
    }
}

/// A number the built-in numeric aggregators can add and compare: every primitive integer and float.
/// Integer sums saturate instead of overflowing.
pub trait Number: Copy + PartialOrd + Default {
    /// `self + other`, saturating for integers.
    fn add(self, other: Self) -> Self;
    /// The value as a float (for averages).
    fn to_f64(self) -> f64;
}

macro_rules! int_number {
    ($($t:ty),*) => {$(
        impl Number for $t {
            fn add(self, other: Self) -> Self { self.saturating_add(other) }
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
int_number!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

impl Number for f32 {
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Number for f64 {
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// Counts the events of a window (`u64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count;

impl<V> Aggregator<V> for Count {
    type Acc = u64;
    type Output = u64;
    #[inline]
    fn init(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&self, acc: &mut u64, _value: &V) {
        *acc += 1;
    }
    #[inline]
    fn result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge(&self, into: &mut u64, other: u64) {
        *into += other;
    }
}

macro_rules! field_agg {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name<F, N> {
            field: F,
            _n: PhantomData<fn() -> N>,
        }

        impl<F, N> $name<F, N> {
            /// The aggregator over the number `field` reads from each value.
            pub fn new(field: F) -> Self {
                $name { field, _n: PhantomData }
            }
        }

        impl<F: Clone, N> Clone for $name<F, N> {
            fn clone(&self) -> Self {
                $name::new(self.field.clone())
            }
        }

        impl<F, N> fmt::Debug for $name<F, N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($name))
            }
        }
    };
}

field_agg!(
    /// Sums a number read from each value (`N`; integer sums saturate).
    Sum
);
field_agg!(
    /// The smallest number read from the values (`N`; a window is never empty).
    Min
);
field_agg!(
    /// The largest number read from the values (`N`; a window is never empty).
    Max
);
field_agg!(
    /// The mean of a number read from each value, as `f64`.
    Avg
);

impl<V, N: Number, F: Fn(&V) -> N> Aggregator<V> for Sum<F, N> {
    type Acc = N;
    type Output = N;
    fn init(&self) -> N {
        N::default()
    }
    fn add(&self, acc: &mut N, value: &V) {
        *acc = acc.add((self.field)(value));
    }
    fn result(&self, acc: &N) -> N {
        *acc
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge(&self, into: &mut N, other: N) {
        *into = into.add(other);
    }
}

fn pick<N: Number>(a: Option<N>, b: Option<N>, keep_a: impl Fn(N, N) -> bool) -> Option<N> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if keep_a(x, y) { x } else { y }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl<V, N: Number, F: Fn(&V) -> N> Aggregator<V> for Min<F, N> {
    type Acc = Option<N>;
    type Output = N;
    fn init(&self) -> Option<N> {
        None
    }
    fn add(&self, acc: &mut Option<N>, value: &V) {
        *acc = pick(*acc, Some((self.field)(value)), |a, b| a <= b);
    }
    fn result(&self, acc: &Option<N>) -> N {
        acc.unwrap_or_default()
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge(&self, into: &mut Option<N>, other: Option<N>) {
        *into = pick(*into, other, |a, b| a <= b);
    }
}

impl<V, N: Number, F: Fn(&V) -> N> Aggregator<V> for Max<F, N> {
    type Acc = Option<N>;
    type Output = N;
    fn init(&self) -> Option<N> {
        None
    }
    fn add(&self, acc: &mut Option<N>, value: &V) {
        *acc = pick(*acc, Some((self.field)(value)), |a, b| a >= b);
    }
    fn result(&self, acc: &Option<N>) -> N {
        acc.unwrap_or_default()
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge(&self, into: &mut Option<N>, other: Option<N>) {
        *into = pick(*into, other, |a, b| a >= b);
    }
}

impl<V, N: Number, F: Fn(&V) -> N> Aggregator<V> for Avg<F, N> {
    type Acc = (f64, u64);
    type Output = f64;
    fn init(&self) -> (f64, u64) {
        (0.0, 0)
    }
    fn add(&self, acc: &mut (f64, u64), value: &V) {
        acc.0 += (self.field)(value).to_f64();
        acc.1 += 1;
    }
    fn result(&self, acc: &(f64, u64)) -> f64 {
        if acc.1 == 0 {
            0.0
        } else {
            acc.0 / acc.1 as f64
        }
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge(&self, into: &mut (f64, u64), other: (f64, u64)) {
        into.0 += other.0;
        into.1 += other.1;
    }
}

/// Collects the values of a window into a `Vec`, in arrival order (merged sessions: concatenated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collect;

impl<V: Clone> Aggregator<V> for Collect {
    type Acc = Vec<V>;
    type Output = Vec<V>;
    fn init(&self) -> Vec<V> {
        Vec::new()
    }
    fn add(&self, acc: &mut Vec<V>, value: &V) {
        acc.push(value.clone());
    }
    fn result(&self, acc: &Vec<V>) -> Vec<V> {
        acc.clone()
    }
    fn can_merge(&self) -> bool {
        true
    }
    fn merge(&self, into: &mut Vec<V>, mut other: Vec<V>) {
        into.append(&mut other);
    }
}

/// The merge function of a [`Fold`], boxed.
pub type MergeFn<A> = Box<dyn Fn(&mut A, A) + Send + Sync>;

/// A user aggregate: `init()` makes a fresh accumulator, `fold(&mut acc, &value)` folds one value in,
/// and the accumulator (cloned) is the result. Session windows also need `merge`
/// ([`Fold::with_merge`]).
///
/// ```
/// use ember_stream::window::agg::{Aggregator, Fold};
/// // Distinct users (by id) in a window.
/// use std::collections::BTreeSet;
/// let distinct = Fold::new(BTreeSet::new, |set: &mut BTreeSet<u32>, user: &u32| {
///     set.insert(*user);
/// });
/// let mut acc = distinct.init();
/// for u in [7, 9, 7] {
///     distinct.add(&mut acc, &u);
/// }
/// assert_eq!(distinct.result(&acc).len(), 2);
/// ```
pub struct Fold<A, I, F> {
    init: I,
    fold: F,
    merge: Option<MergeFn<A>>,
}

impl<A, I, F> Fold<A, I, F> {
    /// A fold without merge (not usable with session windows).
    pub fn new(init: I, fold: F) -> Self {
        Fold {
            init,
            fold,
            merge: None,
        }
    }

    /// The same fold, able to merge two accumulators (needed by session windows).
    #[must_use]
    pub fn with_merge(mut self, merge: impl Fn(&mut A, A) + Send + Sync + 'static) -> Self {
        self.merge = Some(Box::new(merge));
        self
    }
}

impl<A, I, F> fmt::Debug for Fold<A, I, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fold")
            .field("merge", &self.merge.is_some())
            .finish()
    }
}

impl<V, A: Clone, I: Fn() -> A, F: Fn(&mut A, &V)> Aggregator<V> for Fold<A, I, F> {
    type Acc = A;
    type Output = A;
    fn init(&self) -> A {
        (self.init)()
    }
    fn add(&self, acc: &mut A, value: &V) {
        (self.fold)(acc, value);
    }
    fn result(&self, acc: &A) -> A {
        acc.clone()
    }
    fn can_merge(&self) -> bool {
        self.merge.is_some()
    }
    fn merge(&self, into: &mut A, other: A) {
        if let Some(m) = &self.merge {
            m(into, other);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<V, A: Aggregator<V>>(a: &A, values: &[V]) -> A::Output {
        let mut acc = a.init();
        for v in values {
            a.add(&mut acc, v);
        }
        a.result(&acc)
    }

    #[test]
    fn builtins_compute_their_values() {
        let vals = [5i64, -3, 9, 1];
        assert_eq!(run(&Count, &vals), 4);
        assert_eq!(run(&Sum::new(|v: &i64| *v), &vals), 12);
        assert_eq!(run(&Min::new(|v: &i64| *v), &vals), -3);
        assert_eq!(run(&Max::new(|v: &i64| *v), &vals), 9);
        assert_eq!(run(&Avg::new(|v: &i64| *v), &vals), 3.0);
        assert_eq!(run(&Collect, &vals), vec![5, -3, 9, 1]);
        assert_eq!(run(&Sum::new(|v: &u8| *v), &[200u8, 100]), 255, "saturates");
    }

    #[test]
    fn merges_equal_folding_everything() {
        let (a, b) = ([1.5f64, 2.5], [10.0f64, -4.0, 0.5]);
        let all: Vec<f64> = a.iter().chain(b.iter()).copied().collect();
        macro_rules! check {
            ($agg:expr) => {{
                let agg = $agg;
                assert!(Aggregator::<f64>::can_merge(&agg));
                let mut x = Aggregator::<f64>::init(&agg);
                a.iter().for_each(|v| agg.add(&mut x, v));
                let mut y = Aggregator::<f64>::init(&agg);
                b.iter().for_each(|v| agg.add(&mut y, v));
                Aggregator::<f64>::merge(&agg, &mut x, y);
                assert_eq!(Aggregator::<f64>::result(&agg, &x), run(&agg, &all));
            }};
        }
        check!(Count);
        check!(Sum::new(|v: &f64| *v));
        check!(Min::new(|v: &f64| *v));
        check!(Max::new(|v: &f64| *v));
        check!(Avg::new(|v: &f64| *v));
        check!(Collect);
        check!(Fold::new(|| 0.0, |s: &mut f64, v: &f64| *s += v).with_merge(|s, o| *s += o));
        let plain = Fold::new(|| 0.0, |s: &mut f64, v: &f64| *s += v);
        assert!(!Aggregator::<f64>::can_merge(&plain));
    }
}
