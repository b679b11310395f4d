import Foundation
import NIOSSL
import XCTest

@testable import HTTPFrontTLS

/// Certificates made with openssl at test time: a throwaway CA and host certificates.
final class CertificateStoreTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test CA", "-days", "1")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func openssl(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "openssl \(arguments.joined(separator: " "))")
    }

    /// Issues a certificate for `names`; returns its files.
    private func issue(_ file: String, _ names: [String], serial: Int) throws -> CertificateFiles {
        try ("subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ",") + "\n")
            .write(to: directory.appendingPathComponent("\(file).ext"), atomically: true, encoding: .utf8)
        try openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", "\(file).key", "-out", "\(file).csr", "-subj", "/CN=\(names[0])")
        try openssl("x509", "-req", "-in", "\(file).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", "\(serial)",
                    "-days", "1", "-extfile", "\(file).ext", "-out", "\(file).crt")
        return CertificateFiles(
            certificate: directory.appendingPathComponent("\(file).crt").path,
            key: directory.appendingPathComponent("\(file).key").path)
    }

    private func serial(_ loaded: CertificateStore.Loaded) -> [UInt8] {
        loaded.chain[0].serialNumber
    }

    func testSelectsByServerNameWithWildcardsAndDefault() throws {
        let a = try issue("a", ["a.test"], serial: 1)
        let b = try issue("b", ["b.test", "*.b.test"], serial: 2)
        let store = try CertificateStore([a, b])
        XCTAssertEqual(serial(store.select("a.test")), [1])
        XCTAssertEqual(serial(store.select("B.TEST")), [2])
        XCTAssertEqual(serial(store.select("x.b.test")), [2])
        XCTAssertEqual(serial(store.select("y.x.b.test")), [1], "a wildcard covers one label only")
        XCTAssertEqual(serial(store.select("other.test")), [1])
        XCTAssertEqual(serial(store.select(nil)), [1])
    }

    func testReloadSwapsAndKeepsOldOnError() throws {
        let a = try issue("a", ["a.test"], serial: 1)
        let store = try CertificateStore([a])
        _ = try issue("a", ["a.test"], serial: 7)
        try store.reload()
        XCTAssertEqual(serial(store.select("a.test")), [7])
        try "garbage".write(toFile: a.key, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try store.reload()) { error in
            XCTAssertTrue("\(error)".contains(a.key), "\(error)")
        }
        XCTAssertEqual(serial(store.select("a.test")), [7], "a failed reload keeps the certificates in use")
    }

    func testMissingFileNamesIt() throws {
        XCTAssertThrowsError(try CertificateStore([CertificateFiles(certificate: "/nonexistent/x.crt", key: "/nonexistent/x.key")])) {
            XCTAssertTrue("\($0)".contains("/nonexistent/x.crt"), "\($0)")
        }
    }
}
