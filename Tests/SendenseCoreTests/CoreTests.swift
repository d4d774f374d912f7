import Foundation
import SendenseCore
import Testing

@Suite("Core values")
struct CoreTests {
    @Test("roles are ordered viewer < operator < admin")
    func roles() {
        #expect(UserRole.admin.satisfies(.operator))
        #expect(UserRole.operator.satisfies(.viewer))
        #expect(!UserRole.viewer.satisfies(.operator))
        #expect(!UserRole.operator.satisfies(.admin))
        #expect(UserRole.allCases.sorted() == [.viewer, .operator, .admin])
    }

    @Test("bytes print as lowercase hexadecimal, two digits each, as String(format:) did")
    func hex() {
        #expect([UInt8]().lowercaseHex == "")
        #expect([0x00, 0x0f, 0xa0, 0xff].lowercaseHex == "000fa0ff")
        let all = (0...255).map { UInt8($0) }
        #expect(all.lowercaseHex == all.map { String(format: "%02x", $0) }.joined())
    }

    @Test("timestamps are ISO 8601 UTC with whole seconds")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_759_951_471.75)
        #expect(Timestamp.format(date) == "2025-10-08T19:24:31Z")
        #expect(Timestamp.parse("2025-10-08T19:24:31Z") == Date(timeIntervalSince1970: 1_759_951_471))
        #expect(Timestamp.parse("2025-10-08T19:24:31.500Z") == Date(timeIntervalSince1970: 1_759_951_471.5))
        #expect(Timestamp.parse("yesterday") == nil)
    }

    @Test("the hand-written timestamp writer says what Foundation's ISO 8601 style says, leap days, ends of years and fractions included")
    func timestampsAgreeWithFoundation() {
        let style = Date.ISO8601FormatStyle(timeZone: .gmt)
        var generator = SystemRandomNumberGenerator()
        // Whole seconds, a hair either side of them, and the edges of the fast path.
        var dates = [0, 0.999_999, 68_169_599, 951_782_400 - 0.25, 951_868_799.5, 4_107_542_399, 253_402_300_799.9,
                     -0.5, -86_400 * 400, 253_402_300_800, 300_000_000_000].map(Date.init(timeIntervalSince1970:))
        for _ in 0..<20_000 {
            let seconds = Double(Int64.random(in: 0..<253_402_300_800, using: &generator))
            dates.append(Date(timeIntervalSince1970: seconds + [0, 0.5, 0.999_999, -0.000_001].randomElement(using: &generator)!))
        }
        for date in dates {
            #expect(Timestamp.format(date) == date.formatted(style), "\(date.timeIntervalSince1970)")
        }
    }

    @Test("job states: only completed, failed and cancelled are final; a backup not yet ended is a running job")
    func jobStates() {
        #expect(BackupStatus.allCases.filter(\.isFinal) == [.completed, .failed, .cancelled])
        #expect(BackupStatus.inProgress.rawValue == "in_progress")
        #expect(BackupStatus.allCases.map(\.jobState) == [.running, .running, .completed, .failed, .cancelled])
        #expect(JobState.allCases.filter(\.isFinal) == [.completed, .failed, .cancelled])
    }

    @Test("name rules", arguments: [
        ("", "must not be empty"), ("   ", "must not be empty"), (String(repeating: "a", count: 129), "at most 128"),
        ("tab\there", "control characters"),
    ])
    func names(_ name: String, _ problem: String) {
        #expect(NameRules.problem(with: name, field: "name")?.contains(problem) == true)
    }

    @Test("user names and passwords")
    func credentials() {
        #expect(NameRules.usernameProblem("ops.team-1@corp") == nil)
        #expect(NameRules.usernameProblem("") != nil)
        #expect(NameRules.usernameProblem("a b") != nil)
        #expect(NameRules.usernameProblem("ä") != nil)
        #expect(NameRules.passwordProblem("1234567") != nil)
        #expect(NameRules.passwordProblem("12345678") == nil)
        #expect(NameRules.passwordProblem(String(repeating: "é", count: 37)) == nil)  // 74 bytes: the hasher reads them all
        #expect(NameRules.passwordProblem(String(repeating: "e\u{301}", count: 4)) == nil)  // 4 characters as seen, 8 as counted
        #expect(NameRules.passwordProblem(String(repeating: "x", count: 1024)) == nil)
        #expect(NameRules.passwordProblem(String(repeating: "x", count: 1025)) != nil)
        #expect(NameRules.vCenterPasswordProblem("x") == nil && NameRules.vCenterPasswordProblem(String(repeating: "x", count: 1024)) == nil)
        #expect(NameRules.vCenterPasswordProblem("") == "password must be 1 to 1024 characters")
        #expect(NameRules.vCenterPasswordProblem(String(repeating: "x", count: 1025)) != nil)
    }

    @Test("a path is absolute by its first byte, as the kernel reads it")
    func absolutePaths() {
        #expect("/srv/x".isAbsolutePath)
        #expect("/\u{301}x".isAbsolutePath)  // hasPrefix("/") is false here: the slash and the mark are one Character
        #expect(!"/\u{301}x".hasPrefix("/"))
        #expect(!"srv/x".isAbsolutePath && !"".isAbsolutePath && !" /x".isAbsolutePath)
    }
}
