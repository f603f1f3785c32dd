use super::*;

fn bytes(content: &[u8], name: &str) -> Input {
    Input::Bytes {
        name: Some(name.to_owned()),
        bytes: Arc::from(content),
    }
}

fn lines_and(rows: &[SourceRow], column: &str) -> Vec<(Location, String)> {
    rows.iter()
        .map(|r| (r.location, r.get(column).unwrap_or_default().to_owned()))
        .collect()
}

#[test]
fn csv_lines_are_the_files_own_whatever_the_line_ends_and_bom() {
    for (bom, end) in [
        ("", "\n"),
        ("\u{feff}", "\n"),
        ("", "\r\n"),
        ("\u{feff}", "\r\n"),
    ] {
        let text =
            format!("{bom}id,nom{end}a,\"deux{end}lignes\"{end}{end}b,Lieu B{end}c,Lieu C{end}");
        let (info, rows) =
            read_all(&bytes(text.as_bytes(), "f.csv"), &ReadOptions::default()).unwrap();
        assert_eq!(info.columns, ["id", "nom"], "{bom:?} {end:?}");
        assert_eq!(
            rows.iter().map(|r| r.location).collect::<Vec<_>>(),
            [Location::Line(2), Location::Line(5), Location::Line(6)],
            "BOM {bom:?}, line end {end:?}"
        );
        assert_eq!(info.rows, 3);
    }
}

#[test]
fn separators_are_sniffed_outside_quotes() {
    for (text, delimiter) in [
        ("id;nom;\"a,b,c,d\"\n1;x;y\n", b';'),
        ("id\tnom\tcommune\n1\tx\ty\n", b'\t'),
        ("id,\"n;o;m\"\n1,x\n", b','),
    ] {
        let (info, rows) =
            read_all(&bytes(text.as_bytes(), "f.csv"), &ReadOptions::default()).unwrap();
        assert_eq!(info.delimiter, Some(delimiter), "{text:?}");
        assert_eq!(rows[0].get("id"), Some("1"));
    }
}

#[test]
fn latin1_is_detected_or_forced_and_decoded() {
    // "Médiathèque;Île" in Windows-1252, with the œ and € of its 0x80-0x9F range.
    let mut text = b"id;nom\n1;M\xe9diath\xe8que \x9cuvre \x80\n2;\xcele\n".to_vec();
    let (info, rows) = read_all(&bytes(&text, "f.csv"), &ReadOptions::default()).unwrap();
    assert_eq!(
        (info.encoding, info.encoding_detected),
        (Some(Encoding::Windows1252), true)
    );
    assert_eq!(lines_and(&rows, "nom")[0].1, "Médiathèque œuvre €");
    assert_eq!(rows[1].get("nom"), Some("Île"));
    assert_eq!(rows[1].location, Location::Line(3));
    // A header with accents is decoded too.
    text = b"id;d\xe9partement\n1;Ain\n".to_vec();
    let (info, _) = read_all(&bytes(&text, "f.csv"), &ReadOptions::default()).unwrap();
    assert_eq!(info.columns, ["id", "département"]);
    // Forced UTF-8 refuses it with the line; forced Latin-1 reads even a file that happens to be valid UTF-8.
    let forced = |encoding| ReadOptions {
        encoding: Some(encoding),
        ..ReadOptions::default()
    };
    let err = scan(
        &bytes(b"id;nom\n1;ok\n2;\xe9\n", "f.csv"),
        &forced(Encoding::Utf8),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("line 3 is not valid UTF-8"),
        "{err}"
    );
    let (info, rows) = read_all(
        &bytes("id;nom\n1;Ã©\n".as_bytes(), "f.csv"),
        &forced(Encoding::Latin1),
    )
    .unwrap();
    assert_eq!(
        (info.encoding, info.encoding_detected),
        (Some(Encoding::Latin1), false)
    );
    assert_eq!(rows[0].get("nom"), Some("ÃƒÂ©"));
    // UTF-8 stays UTF-8.
    let (info, _) = read_all(
        &bytes("id;nom\n1;é\n".as_bytes(), "f.csv"),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (info.encoding, info.encoding_detected),
        (Some(Encoding::Utf8), false)
    );
    assert_eq!(Encoding::parse("ISO-8859-1"), Some(Encoding::Latin1));
    assert_eq!(Encoding::parse("cp1252"), Some(Encoding::Windows1252));
}

#[test]
fn duplicate_columns_are_refused_blank_ones_ignored() {
    let err = scan(
        &bytes(b"id,nom,Nom,nom, id \n1,a,b,c,d\n", "f.csv"),
        &ReadOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("duplicate column(s) in the header: nom, id"),
        "{err}"
    );
    let (info, rows) = read_all(
        &bytes(b"id,nom,,\n1,a,x,y\n", "f.csv"),
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(info.columns, ["id", "nom", "", ""]);
    assert_eq!(
        rows[0].columns,
        [("id".into(), "1".into()), ("nom".into(), "a".into())]
    );
}

#[test]
fn json_rows_and_format_sniffing() {
    let json = br#"[{"id": "1", "services": ["a", "b"], "vide": null}, {"id": 2}]"#;
    let input = Input::Bytes {
        name: None,
        bytes: Arc::from(&json[..]),
    };
    let options = ReadOptions {
        array_separator: Some(';'),
        ..ReadOptions::default()
    };
    let (info, rows) = read_all(&input, &options).unwrap();
    assert_eq!(info.format, FileFormat::Json);
    assert_eq!(info.columns, ["id", "services", "vide"]);
    assert_eq!(
        rows[0].columns,
        [("id".into(), "1".into()), ("services".into(), "a;b".into())]
    );
    assert_eq!(rows[1].location, Location::Index(1));
    assert_eq!(FileFormat::sniff(b"PK\x03\x04rest"), FileFormat::Xlsx);
    assert_eq!(FileFormat::sniff(b"\xEF\xBB\xBFid,nom"), FileFormat::Csv);
    assert_eq!(FileFormat::parse("XLSX"), Some(FileFormat::Xlsx));
}

#[test]
fn xlsx_sheets_numbers_and_dates() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let first = workbook.add_worksheet();
    first.set_name("Notes").unwrap();
    first.write_string(0, 0, "rien").unwrap();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Lieux").unwrap();
    for (col, name) in ["id", "code_postal", "latitude", "date_maj", "nom"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *name).unwrap();
    }
    sheet.write_number(1, 0, 7).unwrap();
    sheet.write_number(1, 1, 21000).unwrap();
    sheet.write_number(1, 2, 47.322).unwrap();
    let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 3, 12).unwrap();
    let format = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
    sheet
        .write_datetime_with_format(1, 3, &date, &format)
        .unwrap();
    sheet.write_string(1, 4, "Médiathèque").unwrap();
    // Row 3 is blank; row 4 has a value.
    sheet.write_string(3, 4, "Autre").unwrap();
    let buffer = workbook.save_to_buffer().unwrap();
    let input = bytes(&buffer, "lieux.xlsx");
    let first = scan(&input, &ReadOptions::default()).unwrap();
    assert_eq!((first.sheet.as_deref(), first.rows), (Some("Notes"), 0));
    let options = ReadOptions {
        sheet: Some("Lieux".into()),
        ..ReadOptions::default()
    };
    let (info, rows) = read_all(&input, &options).unwrap();
    assert_eq!((info.format, info.rows), (FileFormat::Xlsx, 2));
    assert_eq!(
        rows[0].columns,
        [
            ("id".into(), "7".into()),
            ("code_postal".into(), "21000".into()),
            ("latitude".into(), "47.322".into()),
            ("date_maj".into(), "2024-03-12".into()),
            ("nom".into(), "Médiathèque".into()),
        ]
    );
    assert_eq!(rows[0].location, Location::Line(2));
    assert_eq!(rows[1].location, Location::Line(4));
    let missing = ReadOptions {
        sheet: Some("Feuil9".into()),
        ..ReadOptions::default()
    };
    let err = scan(&input, &missing).unwrap_err();
    assert!(err.to_string().contains("Notes, Lieux"), "{err}");
}

#[test]
fn crlf_files_with_line_breaks_in_cells() {
    let text = "id;nom\r\na;x\r\nb;\"deux\nlignes\"\r\nc;y\r\nd;z\r\n";
    for encoding in [None, Some(Encoding::Latin1)] {
        let options = ReadOptions {
            encoding,
            ..ReadOptions::default()
        };
        let (_, rows) = read_all(&bytes(text.as_bytes(), "f.csv"), &options).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.location).collect::<Vec<_>>(),
            [2, 3, 5, 6].map(Location::Line),
            "{encoding:?}"
        );
    }
}

#[test]
fn syntax_errors_name_the_files_line() {
    for end in ["\n", "\r\n"] {
        let text = format!("id,nom{end}1,a{end}2,b,c{end}");
        let err = scan(&bytes(text.as_bytes(), "f.csv"), &ReadOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid CSV at line 3: 3 fields where the header has 2",
            "{end:?}"
        );
    }
}
