import ShadowBellCore
import Testing

@testable import ShadowBellFormats

@Suite struct RecordCodecTests {
    @Test func placeholder() {}
}
