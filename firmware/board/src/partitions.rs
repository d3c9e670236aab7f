//! The flash layout, as constants the firmware uses and as the CSV the image tools read.
//! A test keeps the two equal.

/// The ESP32-C3 modules in these plugs carry 4 MB.
pub const FLASH_SIZE: u32 = 4 * 1024 * 1024;
/// Where the second-stage bootloader puts the partition table.
pub const TABLE_OFFSET: u32 = 0x8000;
/// The app image budget: comfortably under one slot, so an update always fits.
pub const APP_BUDGET: u32 = 1024 * 1024;

pub const PARTITIONS_CSV: &str = include_str!("../partitions.csv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The configuration store (data/nvs by type, sequential-storage by content).
    Config,
    OtaData,
    Phy,
    /// OTA app slot n.
    App(u8),
}

impl Kind {
    /// (type, subtype) as written in the CSV.
    pub const fn csv(&self) -> (&'static str, &'static str) {
        match self {
            Kind::Config => ("data", "nvs"),
            Kind::OtaData => ("data", "ota"),
            Kind::Phy => ("data", "phy"),
            Kind::App(0) => ("app", "ota_0"),
            Kind::App(_) => ("app", "ota_1"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    pub kind: Kind,
    pub offset: u32,
    pub size: u32,
}

impl Partition {
    pub const fn end(&self) -> u32 {
        self.offset + self.size
    }
}

pub const CONFIG: Partition = Partition {
    name: "plugcfg",
    kind: Kind::Config,
    offset: 0x9000,
    size: 0x4000,
};

pub const PARTITIONS: [Partition; 5] = [
    CONFIG,
    Partition {
        name: "otadata",
        kind: Kind::OtaData,
        offset: 0xd000,
        size: 0x2000,
    },
    Partition {
        name: "phy_init",
        kind: Kind::Phy,
        offset: 0xf000,
        size: 0x1000,
    },
    Partition {
        name: "ota_0",
        kind: Kind::App(0),
        offset: 0x10000,
        size: 0x1f0000,
    },
    Partition {
        name: "ota_1",
        kind: Kind::App(1),
        offset: 0x200000,
        size: 0x1f0000,
    },
];

/// Size of one OTA slot: the largest image an update can write.
pub const fn slot_size() -> u32 {
    PARTITIONS[3].size
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn parse_number(s: &str) -> u32 {
        match s.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).expect("hex number"),
            None => s.parse().expect("number"),
        }
    }

    fn csv_rows() -> Vec<(String, String, String, u32, u32)> {
        PARTITIONS_CSV
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split(',').map(str::trim).collect();
                assert_eq!(f.len(), 5, "five fields in {l:?}");
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    f[2].to_string(),
                    parse_number(f[3]),
                    parse_number(f[4]),
                )
            })
            .collect()
    }

    #[test]
    fn the_csv_and_the_constants_agree() {
        let rows = csv_rows();
        assert_eq!(rows.len(), PARTITIONS.len());
        for (row, p) in rows.iter().zip(PARTITIONS.iter()) {
            let (ty, sub) = p.kind.csv();
            assert_eq!(
                (row.0.as_str(), row.1.as_str(), row.2.as_str(), row.3, row.4),
                (p.name, ty, sub, p.offset, p.size)
            );
        }
    }

    #[test]
    fn partitions_are_ordered_aligned_and_fit_the_flash() {
        assert!(PARTITIONS[0].offset >= TABLE_OFFSET + 0x1000, "after the table");
        for w in PARTITIONS.windows(2) {
            assert!(w[0].end() <= w[1].offset, "{} overlaps {}", w[0].name, w[1].name);
        }
        for p in PARTITIONS {
            assert_eq!(p.offset % 0x1000, 0, "{} on a sector", p.name);
            assert_eq!(p.size % 0x1000, 0, "{} whole sectors", p.name);
            if let Kind::App(_) = p.kind {
                // The MMU maps apps in 64 KiB pages.
                assert_eq!(p.offset % 0x10000, 0, "{} on a 64 KiB page", p.name);
            }
        }
        assert!(PARTITIONS[4].end() <= FLASH_SIZE);
    }

    #[test]
    fn two_equal_slots_hold_the_budget_and_otadata_is_two_sectors() {
        let apps: Vec<&Partition> = PARTITIONS
            .iter()
            .filter(|p| matches!(p.kind, Kind::App(_)))
            .collect();
        assert_eq!(apps.len(), 2);
        assert_eq!(apps[0].size, apps[1].size);
        assert!(slot_size() >= APP_BUDGET);
        let ota = PARTITIONS
            .iter()
            .find(|p| p.kind == Kind::OtaData)
            .expect("otadata");
        assert_eq!(ota.size, 0x2000, "the bootloader reads two otadata sectors");
        // sequential-storage needs at least two pages; four leave room to compact.
        assert_eq!(CONFIG.size / 0x1000, 4);
    }
}
