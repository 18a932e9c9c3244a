import Foundation
import Testing

/// JSON a person or a script can act on: finding ids equal to what `explain --finding` takes,
/// and host-clock nanoseconds that survive readers that use doubles.
@Suite struct JSONExactnessTests {
    @Test func findingIdsCountFromOneInReportOrder() throws {
        let (_, json, _) = try analyzeJSON([sample("lab/sq-hang.txt")])
        let ids = (json["findings"] as? [[String: Any]] ?? []).map { $0["id"] as? Int ?? 0 }
        #expect(!ids.isEmpty && ids == Array(1...ids.count))
    }

    @Test func integersBeyondTwoToThe53AlsoComeAsExactStrings() throws {
        // A QEMU log alone: times are host wall-clock nanoseconds (~1.8e18).
        let (_, _, text) = try analyzeJSON([sample("real-single/qemu-trace.log")])
        var checked = 0
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, v) in object {
                    if !(v is Bool), let i = v as? Int64, i.magnitude > 1 << 53 {
                        #expect(object[key + "_str"] as? String != nil, "\(key) has no _str twin")
                        checked += 1
                    }
                    walk(v)
                }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(try JSONSerialization.jsonObject(with: Data(text.utf8)))
        #expect(checked > 0)
        // The string is the exact decimal of the number as written.
        let pairs = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for (i, line) in pairs.enumerated() where line.contains("_str\": \"") && i > 0 {
            let number = pairs[i - 1].split(separator: ":").last!.trimmingCharacters(in: CharacterSet(charactersIn: " ,"))
            let string = line.split(separator: "\"")[2]
            #expect(number == String(string))
        }
    }
}
