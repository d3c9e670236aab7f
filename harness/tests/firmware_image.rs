//! The ESP32-C3 firmware off-target: it builds, espflash makes images of it with
//! plug-board's partition table, and its OTA image round-trips through the core's
//! verifier. Builds firmware/esp32c3 in release first (incremental after `.ci/run`'s
//! build; needs `rustup target add riscv32imc-unknown-none-elf`).

use esp_idf_part::{AppType, DataType, SubType, Type};
use instruments::flash::image;
use plug_board::partitions::{Kind, APP_BUDGET, PARTITIONS, TABLE_OFFSET};
use plug_core::ota::image::{Header, ImageError, Verifier, HEADER_LEN};
use plugrig::drivers::firmware::{build, ota_image};

fn images() -> image::Images {
    let elf = build::build_firmware().expect("firmware/esp32c3 builds");
    let bytes = std::fs::read(&elf).expect("ELF readable");
    image::from_elf(&bytes).expect("espflash makes images of the ELF")
}

#[test]
fn firmware_images_layout_partitions_and_ota_round_trip() {
    let images = images();
    let target = plug_board::ATHOM_C3_BL0942.ota_target;

    // The app image: ESP magic, our app descriptor, inside the budget.
    let app = &images.app;
    assert_eq!(app[0], 0xE9, "ESP image magic");
    assert_eq!(
        &app[0x20..0x24],
        &0xABCD_5432u32.to_le_bytes(),
        "app descriptor magic"
    );
    assert_eq!(
        app[0x50..0x70].split(|b| *b == 0).next(),
        Some(&b"plug-esp32c3"[..]),
        "project name in the app descriptor"
    );
    println!("app image {}", image::size_line(app.len()));
    assert!(
        app.len() < APP_BUDGET as usize,
        "app image {} bytes, budget {APP_BUDGET}",
        app.len()
    );

    // Segments where the ROM and bootloader look for them.
    let addrs: Vec<u32> = images.segments.iter().map(|(a, _)| *a).collect();
    assert_eq!(addrs, vec![0x0, TABLE_OFFSET, PARTITIONS[3].offset]);
    let merged = images.merged();
    let off = PARTITIONS[3].offset as usize;
    assert_eq!(&merged[off..off + app.len()], &app[..]);
    assert!(merged[images.segments[0].1.len()..TABLE_OFFSET as usize]
        .iter()
        .all(|b| *b == 0xFF));

    // espflash's reading of the CSV is plug-board's table, entry by entry.
    let table = images.table.partitions();
    assert_eq!(table.len(), PARTITIONS.len());
    for (t, p) in table.iter().zip(PARTITIONS.iter()) {
        let (ty, sub) = match p.kind {
            Kind::Config => (Type::Data, SubType::Data(DataType::Nvs)),
            Kind::OtaData => (Type::Data, SubType::Data(DataType::Ota)),
            Kind::Phy => (Type::Data, SubType::Data(DataType::Phy)),
            Kind::App(0) => (Type::App, SubType::App(AppType::Ota_0)),
            Kind::App(_) => (Type::App, SubType::App(AppType::Ota_1)),
        };
        assert_eq!(
            (t.name(), t.ty(), t.subtype(), t.offset(), t.size()),
            (p.name.to_string(), ty, sub, p.offset, p.size)
        );
    }
    let bin = images.table.to_bin().expect("table encodes");
    assert_eq!(
        &images.segments[1].1[..],
        &bin[..],
        "the table written is the table parsed"
    );

    // The OTA image: the harness's encoder, the core's decoder and verifier.
    let ota = ota_image(app, target, "000002");
    assert_eq!(ota.len(), HEADER_LEN + app.len());
    let mut raw = [0u8; HEADER_LEN];
    raw.copy_from_slice(&ota[..HEADER_LEN]);
    let h = Header::decode(&raw).expect("header decodes");
    assert_eq!(
        (h.target.as_str(), h.version.as_str(), h.body_len as usize),
        (target, "000002", app.len())
    );
    let mut v = Verifier::new(target);
    for part in ota.chunks(1460) {
        v.feed(part).expect("a good image feeds");
    }
    assert_eq!(
        v.finish().map(|h| h.version.as_str().to_string()),
        Ok("000002".to_string())
    );

    let mut other = Verifier::new("sim");
    let refused = other.feed(&ota).and_then(|_| other.finish().map(|_| ()));
    assert_eq!(refused, Err(ImageError::WrongTarget));

    let mut corrupt = ota.clone();
    corrupt[HEADER_LEN + app.len() / 2] ^= 0x01;
    let mut v = Verifier::new(target);
    let refused = v.feed(&corrupt).and_then(|_| v.finish().map(|_| ()));
    assert_eq!(refused, Err(ImageError::BadBodyCrc));
}
