//! An emulated btrfs tree, as the TREE_SEARCH ioctls see it: items (key and data) grouped
//! into leaves, each with its generation. See [`search`] for `search_ioctl()`.

pub mod buffered_write;
pub mod dio;
pub mod ioctl;
pub mod search;

use std::cmp::Ordering;

/// A btrfs key, ordered lexicographically by (objectid, type, offset) as
/// `btrfs_comp_cpu_keys` orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Key {
    /// objectid.
    pub objectid: u64,
    /// type.
    #[serde(rename = "type")]
    pub typ: u8,
    /// offset.
    pub offset: u64,
}

impl Ord for Key {
    fn cmp(&self, o: &Key) -> Ordering {
        (self.objectid, self.typ, self.offset).cmp(&(o.objectid, o.typ, o.offset))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, o: &Key) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// One item.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Its key.
    pub key: Key,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A leaf: items in key order and the generation it was written in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Leaf {
    /// The leaf's generation (reported as each header's `transid`).
    pub generation: u64,
    /// Its items.
    pub items: Vec<Item>,
}

/// A tree: leaves in key order.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tree {
    /// The leaves.
    pub leaves: Vec<Leaf>,
}

/// Why a tree definition is not a valid btrfs tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid btrfs tree: {0}")]
pub struct BadTree(pub String);

impl Tree {
    /// Check that keys are strictly increasing across the whole tree and leaves are non-empty.
    pub fn validate(&self) -> Result<(), BadTree> {
        let mut last: Option<Key> = None;
        for (i, l) in self.leaves.iter().enumerate() {
            if l.items.is_empty() {
                return Err(BadTree(format!("leaf {i} has no items")));
            }
            for it in &l.items {
                if last.is_some_and(|k| k >= it.key) {
                    return Err(BadTree(format!("key {:?} in leaf {i} is not greater than the key before it", it.key)));
                }
                last = Some(it.key);
            }
        }
        Ok(())
    }

    /// `btrfs_search_forward`: the first item with a key at or after `key` in a leaf whose
    /// generation is at least `min_transid`, as (leaf, slot).
    pub fn search_forward(&self, key: Key, min_transid: u64) -> Option<(usize, usize)> {
        for (li, leaf) in self.leaves.iter().enumerate() {
            if leaf.generation < min_transid {
                continue;
            }
            if let Some(slot) = leaf.items.iter().position(|it| it.key >= key) {
                return Some((li, slot));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(o: u64, t: u8, off: u64) -> Key {
        Key { objectid: o, typ: t, offset: off }
    }

    #[test]
    fn keys_order_and_search_forward() {
        assert!(k(1, 5, 0) < k(1, 6, 0) && k(1, 255, 9) < k(2, 0, 0));
        let tree = Tree {
            leaves: vec![
                Leaf {
                    generation: 5,
                    items: vec![Item { key: k(1, 1, 0), data: vec![] }, Item { key: k(1, 1, 5), data: vec![] }],
                },
                Leaf { generation: 9, items: vec![Item { key: k(2, 1, 0), data: vec![] }] },
            ],
        };
        tree.validate().unwrap();
        assert_eq!(tree.search_forward(k(1, 1, 1), 0), Some((0, 1)));
        assert_eq!(tree.search_forward(k(1, 1, 6), 0), Some((1, 0)));
        assert_eq!(tree.search_forward(k(1, 1, 0), 6), Some((1, 0)), "leaf 0 is too old");
        assert_eq!(tree.search_forward(k(3, 0, 0), 0), None);
        let bad = Tree {
            leaves: vec![Leaf {
                generation: 1,
                items: vec![Item { key: k(2, 0, 0), data: vec![] }, Item { key: k(1, 0, 0), data: vec![] }],
            }],
        };
        assert!(bad.validate().is_err());
    }
}
