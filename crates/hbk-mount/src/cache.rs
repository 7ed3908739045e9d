//! A bounded cache of blob plaintexts: what a file read through the mount
//! keeps of its recent blobs, so a reader that walks a file in 128 KiB
//! requests decodes each blob once, and a large file never holds more
//! than the cache's budget in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hbk_repo::Id;

/// Blobs by id, least recently used first out, within a byte budget.
#[derive(Debug)]
pub struct BlobCache {
    budget: usize,
    used: usize,
    blobs: HashMap<Id, Arc<Vec<u8>>>,
    order: VecDeque<Id>,
}

impl BlobCache {
    /// An empty cache holding at most `budget` bytes (at least one blob
    /// is always kept, whatever its size).
    pub fn new(budget: usize) -> BlobCache {
        BlobCache {
            budget,
            used: 0,
            blobs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The blob, if cached; it becomes the most recently used.
    pub fn get(&mut self, id: &Id) -> Option<Arc<Vec<u8>>> {
        let b = self.blobs.get(id)?.clone();
        if let Some(at) = self.order.iter().rposition(|x| x == id) {
            self.order.remove(at);
        }
        self.order.push_back(*id);
        Some(b)
    }

    /// Keeps `data` as `id`, dropping the least recently used blobs
    /// beyond the budget.
    pub fn put(&mut self, id: Id, data: Arc<Vec<u8>>) {
        if self.blobs.contains_key(&id) {
            return;
        }
        self.used += data.len();
        self.blobs.insert(id, data);
        self.order.push_back(id);
        while self.used > self.budget && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front() {
                if let Some(b) = self.blobs.remove(&old) {
                    self.used -= b.len();
                }
            }
        }
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_holds_and_recent_blobs_stay() {
        let mut c = BlobCache::new(250);
        let id = |i: u8| Id([i; 32]);
        for i in 0..3 {
            c.put(id(i), Arc::new(vec![i; 100]));
        }
        assert!(c.used() <= 250);
        assert!(c.get(&id(0)).is_none(), "the oldest went");
        assert!(c.get(&id(1)).is_some());
        c.put(id(3), Arc::new(vec![3; 100]));
        assert!(c.get(&id(1)).is_some(), "used recently, kept");
        assert!(c.get(&id(2)).is_none());
        c.put(id(9), Arc::new(vec![9; 1000]));
        assert!(
            c.get(&id(9)).is_some(),
            "one blob larger than the budget is kept alone"
        );
        assert_eq!(c.used(), 1000);
    }
}
