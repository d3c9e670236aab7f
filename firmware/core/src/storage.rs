//! Where the configuration lives in flash: a sequential-storage map in a dedicated range,
//! one key. Every build uses this layout, so power loss at any point of a write leaves
//! either the old record or the new one (sequential-storage checks each item's CRC and
//! repairs a half-written page on the next access).
//!
//! An erase (factory reset) stores an empty record rather than removing the item: that
//! needs no multi-write flash, and "empty" reads as "no configuration".

use core::ops::Range;
use embedded_storage_async::nor_flash::NorFlash;
use sequential_storage::cache::{Cache, Uncached};
use sequential_storage::map::{MapConfig, MapConfigError, MapStorage, SerializationError, Value};

use crate::config::{Config, ENCODED_MAX};

const CONFIG_KEY: u8 = 1;
/// Key + record, rounded up generously for any flash word size.
const BUF_LEN: usize = ENCODED_MAX + 64;

/// One record as stored: empty, or an encoded [`Config`].
struct Record<'a>(Option<&'a Config>);

/// A record read back: empty, a configuration, or bytes that do not decode.
// Lives on the stack for one load; no heap to box into.
#[allow(clippy::large_enum_variant)]
enum Loaded {
    Empty,
    Config(Config),
    Undecodable,
}

impl<'a> Value<'a> for Record<'_> {
    fn serialize_into(&self, buffer: &mut [u8]) -> Result<usize, SerializationError> {
        match self.0 {
            None => Ok(0),
            Some(c) => c.encode(buffer).ok_or(SerializationError::BufferTooSmall),
        }
    }
    fn deserialize_from(_: &'a [u8]) -> Result<(Self, usize), SerializationError> {
        Err(SerializationError::InvalidFormat)
    }
}

impl<'a> Value<'a> for Loaded {
    fn serialize_into(&self, _: &mut [u8]) -> Result<usize, SerializationError> {
        Err(SerializationError::InvalidData)
    }
    fn deserialize_from(buffer: &'a [u8]) -> Result<(Self, usize), SerializationError> {
        if buffer.is_empty() {
            return Ok((Loaded::Empty, 0));
        }
        let l = match Config::decode(buffer) {
            Ok(c) => Loaded::Config(c),
            Err(_) => Loaded::Undecodable,
        };
        Ok((l, buffer.len()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageError<E> {
    Flash(E),
    Corrupted,
    /// A record that passed its CRC but is not a configuration of this layout. The caller
    /// comes up unprovisioned rather than with a half-understood configuration.
    BadRecord,
    Other,
}

impl<E> From<sequential_storage::Error<E>> for StorageError<E> {
    fn from(e: sequential_storage::Error<E>) -> Self {
        match e {
            sequential_storage::Error::Storage { value, .. } => StorageError::Flash(value),
            sequential_storage::Error::Corrupted { .. } => StorageError::Corrupted,
            _ => StorageError::Other,
        }
    }
}

type Uncache = Cache<Uncached, Uncached, Uncached, u8>;

pub struct ConfigStore<S: NorFlash> {
    map: MapStorage<u8, S, Uncache>,
}

impl<S: NorFlash> ConfigStore<S> {
    /// `range` must be page-aligned and hold at least two erase pages.
    pub fn new(flash: S, range: Range<u32>) -> Result<Self, MapConfigError> {
        let cfg = MapConfig::try_new(range)?;
        Ok(ConfigStore {
            map: MapStorage::new(flash, cfg, Cache::new_uncached()),
        })
    }

    pub async fn load(&mut self) -> Result<Option<Config>, StorageError<S::Error>> {
        let mut buf = [0u8; BUF_LEN];
        match self.map.fetch_item::<Loaded>(&mut buf, &CONFIG_KEY).await? {
            None | Some(Loaded::Empty) => Ok(None),
            Some(Loaded::Config(c)) => Ok(Some(c)),
            Some(Loaded::Undecodable) => Err(StorageError::BadRecord),
        }
    }

    pub async fn save(&mut self, c: &Config) -> Result<(), StorageError<S::Error>> {
        let mut buf = [0u8; BUF_LEN];
        self.map
            .store_item_generic(&mut buf, &CONFIG_KEY, &Record(Some(c)))
            .await?;
        Ok(())
    }

    pub async fn erase(&mut self) -> Result<(), StorageError<S::Error>> {
        let mut buf = [0u8; BUF_LEN];
        self.map
            .store_item_generic(&mut buf, &CONFIG_KEY, &Record(None))
            .await?;
        Ok(())
    }

    /// Wipes the whole range: for a flash whose contents cannot be repaired.
    pub async fn format(&mut self) -> Result<(), StorageError<S::Error>> {
        self.map.erase_all().await?;
        Ok(())
    }

    pub fn into_flash(self) -> S {
        self.map.destroy().0
    }
}
