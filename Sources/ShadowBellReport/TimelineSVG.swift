import ShadowBellAnalysis
import ShadowBellCore

/// Places events on the horizontal axis in their order, with a spacing that grows with the
/// logarithm of the time between them: a microsecond race and a 30-second hang fit in one
/// picture, and events with the same stamp stay side by side. Labels give the real times.
public struct EventAxis: Sendable {
    public let times: [Int64]
    public let xs: [Double]
    public let left: Double
    public let right: Double

    /// `times` in order (one per event slot); the slots fill `left...right`.
    public init(times: [Int64], left: Double, right: Double) {
        self.times = times
        self.left = left
        self.right = right
        guard times.count > 1 else {
            xs = times.map { _ in (left + right) / 2 }
            return
        }
        var raw: [Double] = [0]
        for i in 1..<times.count {
            let gap = Double(max(0, times[i] - times[i - 1]))
            raw.append(raw[i - 1] + 1 + log2(1 + gap / 1_000))
        }
        let scale = (right - left) / raw[raw.count - 1]
        xs = raw.map { left + $0 * scale }
    }

    /// The x of the first slot stamped at or after `t` (the right edge past the last slot).
    public func x(atOrAfter t: Int64) -> Double {
        if let i = times.firstIndex(where: { $0 >= t }) { return xs[i] }
        return right
    }
}

/// log2 without Foundation.
func log2(_ v: Double) -> Double {
    guard v > 0 else { return 0 }
    var x = v
    var e = 0.0
    while x >= 2 { x /= 2; e += 1 }
    while x < 1 { x *= 2; e -= 1 }
    // ln(x)/ln(2) for x in [1, 2) by the series of atanh.
    let y = (x - 1) / (x + 1)
    var term = y, sum = 0.0, k = 1.0
    for _ in 0..<12 {
        sum += term / k
        term *= y * y
        k += 2
    }
    return e + 2 * sum / 0.6931471805599453
}

/// One queue's timeline as an inline SVG: a value panel with step plots of P (driver-published),
/// S (controller-seen), the controller's EventIdx and the EventIdx the driver read; a driver lane
/// and a controller lane with a mark per event; MMIO doorbells as arrows from driver to
/// controller; the controller's waiting periods; shaded windows; numbered evidence badges.
public struct TimelineChart {
    public var samples: [StateSample]
    /// Shaded intervals: (start, end); `end` nil draws to the right edge (unresolved).
    public var windows: [(start: Int64, end: Int64?, label: String)]
    /// Evidence to badge: location → number shown.
    public var badges: [SourceLocation: Int] = [:]
    /// Times are ordinals, not nanoseconds.
    public var orderOnly = false
    /// Inside-window samples left out between `omittedAfter` and the next sample.
    public var omitted: (after: Int, count: Int)? = nil
    public var width: Double = 1100
    /// Where the plot ends when it should reach past the last sample (an unresolved window
    /// lasting until the end of the trace).
    public var plotEnd: Int64?

    public init(samples: [StateSample], windows: [(start: Int64, end: Int64?, label: String)]) {
        self.samples = samples
        self.windows = windows
    }

    // Layout (px).
    static let marginLeft = 120.0, marginRight = 40.0
    static let valueTop = 16.0, valueBottom = 156.0
    static let driverY = 196.0, controllerY = 270.0
    static let axisY = 312.0, height = 372.0

    public var axis: EventAxis {
        var times = samples.map(\.time)
        // An unresolved window goes on to the end of the trace: give that stretch its room.
        if let last = times.last, let end = plotEnd, end > last { times.append(end) }
        return EventAxis(times: times, left: Self.marginLeft + 14, right: width - Self.marginRight)
    }

    public func render(id: String, title: String) -> String {
        let axis = self.axis
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\" class=\"timeline\" width=\"\(n(width))\" height=\"\(n(Self.height))\" "
        svg += "viewBox=\"0 0 \(n(width)) \(n(Self.height))\" role=\"img\" aria-label=\"\(esc(title))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<title>\(esc(title))</title>\n"
        svg += frame()
        svg += shadedWindows(axis)
        svg += waiting(axis)
        svg += valuePanel(axis)
        svg += lanes(axis)
        svg += timeAxis(axis)
        svg += "</svg>\n"
        return svg
    }

    // MARK: parts

    func frame() -> String {
        let l = Self.marginLeft, r = width - Self.marginRight
        var s = "<g class=\"frame\">\n"
        s += "<rect x=\"\(n(l))\" y=\"\(n(Self.valueTop))\" width=\"\(n(r - l))\" height=\"\(n(Self.valueBottom - Self.valueTop))\" fill=\"#fbfbfd\" stroke=\"#ccd\"/>\n"
        for (y, label) in [(Self.driverY, "driver"), (Self.controllerY, "controller")] {
            s += "<rect x=\"\(n(l))\" y=\"\(n(y - 22))\" width=\"\(n(r - l))\" height=\"44\" fill=\"#f6f7f9\" stroke=\"#dde\"/>\n"
            s += "<text x=\"\(n(l - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\" font-weight=\"bold\">\(label)</text>\n"
        }
        s += "<text x=\"\(n(l - 8))\" y=\"\(n(Self.valueTop + 10))\" text-anchor=\"end\" font-weight=\"bold\">value</text>\n"
        s += "</g>\n"
        return s
    }

    func shadedWindows(_ axis: EventAxis) -> String {
        var s = "<g class=\"windows\">\n"
        for w in windows {
            let x0 = axis.x(atOrAfter: w.start)
            let x1 = w.end.map { axis.x(atOrAfter: $0) } ?? axis.right
            let width = max(2, x1 - x0)
            s += "<rect class=\"window\" data-start-ns=\"\(w.start)\" data-end-ns=\"\(w.end.map(String.init) ?? "")\" x=\"\(n(x0))\" y=\"\(n(Self.valueTop - 10))\" "
            s += "width=\"\(n(width))\" height=\"\(n(Self.controllerY + 24 - Self.valueTop + 10))\" fill=\"#d62728\" fill-opacity=\"0.10\" stroke=\"#d62728\" stroke-dasharray=\"4 3\">"
            s += "<title>\(esc(w.label))</title></rect>\n"
            if x1 - x0 > 80 || w.end == w.start {
                s += "<text x=\"\(n(x0 + 4))\" y=\"\(n(Self.valueTop - 1))\" fill=\"#b22\" font-weight=\"bold\">\(esc(w.label))</text>\n"
            }
            if w.end == nil {
                s += "<path d=\"M\(n(axis.right - 10)) \(n(Self.valueTop + 60)) l10 6 l-10 6\" fill=\"none\" stroke=\"#b22\" stroke-width=\"2\"/>\n"
            }
        }
        s += "</g>\n"
        return s
    }

    /// A band under the controller lane where the controller waits for a doorbell.
    func waiting(_ axis: EventAxis) -> String {
        var s = "<g class=\"waiting\">\n"
        var start: Double?
        let y = Self.controllerY + 16
        for (i, sample) in samples.enumerated() {
            if sample.controllerWaiting, start == nil { start = axis.xs[i] }
            if !sample.controllerWaiting, let x0 = start {
                s += "<rect x=\"\(n(x0))\" y=\"\(n(y))\" width=\"\(n(max(1, axis.xs[i] - x0)))\" height=\"5\" fill=\"#999\"><title>controller waiting for a doorbell</title></rect>\n"
                start = nil
            }
        }
        if let x0 = start {
            s += "<rect x=\"\(n(x0))\" y=\"\(n(y))\" width=\"\(n(max(1, axis.right - x0)))\" height=\"5\" fill=\"#999\"><title>controller waiting for a doorbell</title></rect>\n"
        }
        s += "</g>\n"
        return s
    }

    struct Series: Sendable {
        var name: String
        var color: String
        var dash: String?
        var width: Double
        var value: @Sendable (StateSample) -> UInt32?
    }

    static let series: [Series] = [
        Series(name: "P driver-published", color: "#1f6fd1", dash: nil, width: 2.5, value: { $0.published }),
        Series(name: "S controller-seen", color: "#e07b00", dash: nil, width: 2.5, value: { $0.controllerSeen }),
        Series(name: "EventIdx (controller wrote)", color: "#2a9d3a", dash: "6 3", width: 1.8, value: { $0.controllerEventIdx }),
        Series(name: "EventIdx (driver read)", color: "#8e44ad", dash: "2 3", width: 1.8, value: { $0.driverEventIdxRead }),
    ]

    func valuePanel(_ axis: EventAxis) -> String {
        let values = samples.flatMap { s in Self.series.compactMap { $0.value(s) } }
        var s = "<g class=\"values\">\n"
        guard let lo = values.min(), let hi = values.max() else {
            s += "<text x=\"\(n(Self.marginLeft + 10))\" y=\"\(n((Self.valueTop + Self.valueBottom) / 2))\" fill=\"#777\">no doorbell values in this range</text>\n</g>\n"
            return s
        }
        let top = Self.valueTop + 14, bottom = Self.valueBottom - 10
        let span = Double(max(1, hi - lo))
        func y(_ v: UInt32) -> Double { bottom - (Double(v - lo) / span) * (bottom - top) }
        // Value gridlines: at most 6 labels.
        let step = max(1, (hi - lo + 5) / 6)
        var v = lo
        while v <= hi {
            s += "<line x1=\"\(n(Self.marginLeft))\" x2=\"\(n(width - Self.marginRight))\" y1=\"\(n(y(v)))\" y2=\"\(n(y(v)))\" stroke=\"#e4e4ee\"/>"
            s += "<text x=\"\(n(Self.marginLeft - 6))\" y=\"\(n(y(v) + 4))\" text-anchor=\"end\" fill=\"#555\">\(v)</text>\n"
            if hi - v < step { break }
            v += step
        }
        for (k, series) in Self.series.enumerated() {
            var d = ""
            var last: (x: Double, v: UInt32)?
            for (i, sample) in samples.enumerated() {
                let x = axis.xs[i]
                guard let value = series.value(sample) else {
                    last = nil
                    continue
                }
                // Lines of equal value would hide each other: shift each series by a pixel.
                let yv = y(value) + Double(k) * 1.5 - 2
                if let l = last {
                    d += " H\(n(x))"
                    if l.v != value { d += " V\(n(yv))" }
                } else {
                    d += " M\(n(x)) \(n(yv))"
                }
                last = (x, value)
            }
            if last != nil { d += " H\(n(axis.right))" }
            if !d.isEmpty {
                s += "<path class=\"series\" data-series=\"\(esc(series.name))\" d=\"\(d.dropFirst())\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"\(n(series.width))\"\(series.dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>\n"
            }
        }
        s += "</g>\n"
        return s
    }

    func lanes(_ axis: EventAxis) -> String {
        var s = "<g class=\"events\">\n"
        /// The right edge of the last label drawn in each lane.
        var lastLabelX: [EventKind.Side: Double] = [:]
        for (i, sample) in samples.enumerated() {
            let e = sample.event
            let x = axis.xs[i]
            let tip = esc("\(formatTime(e.time))  \(describe(e))")
            let side = e.kind.side
            let y = side == .driver ? Self.driverY : Self.controllerY
            var label = ""
            s += "<g class=\"event\" data-time-ns=\"\(e.time)\" data-location=\"\(e.source):\(e.location)\" data-x=\"\(n(x))\">"
            defer { s += "</g>\n" }
            switch e.kind {
            case .mmioDoorbell:
                s += "<g class=\"mmio\" data-time-ns=\"\(e.time)\"><title>\(tip)</title>"
                s += "<line x1=\"\(n(x))\" y1=\"\(n(Self.driverY - 10))\" x2=\"\(n(x))\" y2=\"\(n(Self.controllerY - 12))\" stroke=\"#a01010\" stroke-width=\"2.5\"/>"
                s += "<path d=\"M\(n(x - 5)) \(n(Self.controllerY - 18)) L\(n(x)) \(n(Self.controllerY - 8)) L\(n(x + 5)) \(n(Self.controllerY - 18))z\" fill=\"#a01010\"/>"
                s += "<text x=\"\(n(x + 4))\" y=\"\(n((Self.driverY + Self.controllerY) / 2 + 4))\" fill=\"#a01010\" font-weight=\"bold\">MMIO \(e.a)</text></g>\n"
                continue
            case .driverDoorbellUpdate:
                s += "<path class=\"mark\" d=\"M\(n(x)) \(n(y - 8)) l6 11 h-12z\" fill=\"#1f6fd1\"><title>\(tip)</title></path>\n"
                label = "P=\(e.b)" + (e.rangMMIO ? "" : " no MMIO")
            case .driverSubmit:
                s += "<circle class=\"mark\" cx=\"\(n(x))\" cy=\"\(n(y + 9))\" r=\"3\" fill=\"#555\"><title>\(tip)</title></circle>\n"
            case .driverComplete, .driverSQHead, .guestMessage:
                s += "<circle class=\"mark\" cx=\"\(n(x))\" cy=\"\(n(y + 9))\" r=\"3\" fill=\"none\" stroke=\"#555\"><title>\(tip)</title></circle>\n"
            case .controllerShadowRead:
                s += "<rect class=\"mark\" x=\"\(n(x - 4))\" y=\"\(n(y - 6))\" width=\"8\" height=\"8\" fill=\"#e07b00\"><title>\(tip)</title></rect>\n"
                label = "read \(e.a)"
            case .controllerEventIdxWrite:
                s += "<path class=\"mark\" d=\"M\(n(x)) \(n(y - 8)) l5 6 l-5 6 l-5 -6z\" fill=\"#2a9d3a\"><title>\(tip)</title></path>\n"
                label = "EI=\(e.a)"
            case .controllerFetch, .controllerCompletion:
                s += "<circle class=\"mark\" cx=\"\(n(x))\" cy=\"\(n(y + 9))\" r=\"3\" fill=\"#555\"><title>\(tip)</title></circle>\n"
            default:
                s += "<line class=\"mark\" x1=\"\(n(x))\" x2=\"\(n(x))\" y1=\"\(n(Self.valueTop))\" y2=\"\(n(Self.controllerY + 22))\" stroke=\"#444\" stroke-dasharray=\"2 2\"><title>\(tip)</title></line>\n"
                label = shortName(e)
            }
            // Labels are about 6 px per character; one is left out rather than overlap the last.
            let half = Double(label.count) * 3.1
            if !label.isEmpty, x - half > (lastLabelX[side] ?? -1000) + 4 {
                let ly = side == .driver ? y - 11 : y + 2 - 14
                s += "<text x=\"\(n(x))\" y=\"\(n(ly))\" text-anchor=\"middle\" fill=\"#333\">\(esc(label))</text>\n"
                lastLabelX[side] = x + half
            }
            if let badge = badges[SourceLocation(source: e.source, unit: .line, value: e.location)]
                ?? badges[SourceLocation(source: e.source, unit: .byteOffset, value: e.location)]
            {
                let by = side == .driver ? y + 20 : y - 30
                s += "<g class=\"badge\" data-evidence=\"\(badge)\"><circle cx=\"\(n(x))\" cy=\"\(n(by))\" r=\"7.5\" fill=\"#222\"/>"
                s += "<text x=\"\(n(x))\" y=\"\(n(by + 4))\" text-anchor=\"middle\" fill=\"#fff\" font-size=\"10\" font-weight=\"bold\">\(badge)</text></g>\n"
            }
        }
        if let omitted {
            let k = min(omitted.after, samples.count - 1)
            let x = k + 1 < axis.xs.count ? (axis.xs[k] + axis.xs[k + 1]) / 2 : axis.xs[k]
            s += "<text x=\"\(n(x))\" y=\"\(n(Self.controllerY + 36))\" text-anchor=\"middle\" fill=\"#777\">… \(omitted.count) events left out …</text>\n"
        }
        s += "</g>\n"
        return s
    }

    func shortName(_ e: Event) -> String {
        switch e.kind {
        case .queueCreate: return "created"
        case .queueDelete: return "deleted"
        case .controllerReset: return "reset"
        case .dbbufConfig: return "dbbuf config"
        case .dataLoss: return "LOST EVENTS"
        default: return ""
        }
    }

    /// Ticks at every event; labels at the window edges, the ends, and where room allows, as the
    /// time since the first window opened. Long gaps are labelled with their length.
    func timeAxis(_ axis: EventAxis) -> String {
        var s = "<g class=\"axis\">\n"
        let y = Self.axisY
        s += "<line x1=\"\(n(Self.marginLeft))\" x2=\"\(n(width - Self.marginRight))\" y1=\"\(n(y))\" y2=\"\(n(y))\" stroke=\"#333\"/>\n"
        let origin = windows.first?.start ?? samples.first?.time ?? 0
        for x in axis.xs.prefix(samples.count) {
            s += "<line x1=\"\(n(x))\" x2=\"\(n(x))\" y1=\"\(n(y - 3))\" y2=\"\(n(y + 3))\" stroke=\"#333\"/>"
        }
        s += "\n"
        var labelled: [Double] = []
        func label(_ x: Double, _ text: String, row: Int, color: String = "#333", force: Bool = false) {
            if !force, labelled.contains(where: { abs($0 - x) < 92 }) { return }
            labelled.append(x)
            s += "<text x=\"\(n(x))\" y=\"\(n(y + 16 + Double(row) * 13))\" text-anchor=\"middle\" fill=\"\(color)\">\(esc(text))</text>\n"
        }
        for w in windows {
            let x0 = axis.x(atOrAfter: w.start)
            label(x0, formatTime(w.start), row: 0, color: "#b22", force: true)
            label(x0, w.end == w.start ? "finding" : "window opens", row: 1, color: "#b22", force: true)
            if let end = w.end, end != w.start {
                let x1 = axis.x(atOrAfter: end)
                let room = x1 - x0 >= 92
                label(x1, formatTime(end), row: 0, color: "#b22", force: room)
                label(x1, "closes (+\(formatSpan(end - w.start)))", row: 1, color: "#b22", force: room)
            }
        }
        if let first = samples.first { label(axis.xs[0], relative(first.time - origin), row: 0) }
        for (i, sample) in samples.enumerated().dropFirst() { label(axis.xs[i], relative(sample.time - origin), row: 0) }
        // Long gaps: where nothing happened on this queue for a while.
        for i in 1..<max(1, axis.times.count) {
            let gap = axis.times[i] - axis.times[i - 1]
            if gap >= 10_000_000, axis.xs[i] - axis.xs[i - 1] > 40 {
                let mid = (axis.xs[i] + axis.xs[i - 1]) / 2
                s += "<text x=\"\(n(mid))\" y=\"\(n(y - 6))\" text-anchor=\"middle\" fill=\"#777\">⟵ \(esc(formatSpan(gap))) ⟶</text>\n"
            }
        }
        s += "<text x=\"\(n(Self.marginLeft - 8))\" y=\"\(n(y + 4))\" text-anchor=\"end\" fill=\"#555\">time</text>\n"
        if let end = plotEnd, let last = samples.last?.time, end > last {
            label(axis.right, "end of trace", row: 1, color: "#777", force: true)
            label(axis.right, relative(end - origin), row: 0, force: true)
        }
        s += "</g>\n"
        return s
    }

    func formatTime(_ t: Int64) -> String { orderOnly ? "#\(t)" : formatSeconds(t) }
    func formatSpan(_ d: Int64) -> String { orderOnly ? "\(d) events" : formatDuration(d) }
    func relative(_ d: Int64) -> String {
        if d == 0 { return "0" }
        return (d > 0 ? "+" : "−") + formatSpan(d < 0 ? -d : d)
    }
}

/// A number for SVG: at most two decimals, no exponent, no trailing zeros.
func n(_ v: Double) -> String {
    let scaled = Int64((v * 100).rounded())
    let whole = scaled / 100, frac = abs(scaled % 100)
    let sign = scaled < 0 && whole == 0 ? "-" : ""
    if frac == 0 { return "\(sign)\(whole)" }
    return frac % 10 == 0 ? "\(sign)\(whole).\(frac / 10)" : "\(sign)\(whole).\(frac < 10 ? "0" : "")\(frac)"
}

/// Text and attribute escaping for HTML and SVG.
func esc(_ s: String) -> String { JUnitReport.xml(s) }

/// `shadowbell timeline --format svg`: one chart per queue, stacked in one SVG document, with
/// the intervals where a mutual-wait window was open shaded.
public enum TimelineSVGDocument {
    public struct QueueSamples: Sendable {
        public var queue: QueueKey
        public var samples: [StateSample]
        /// Samples left out past the limit.
        public var dropped: Int

        public init(queue: QueueKey, samples: [StateSample], dropped: Int) {
            self.queue = queue
            self.samples = samples
            self.dropped = dropped
        }
    }

    public static func render(_ queues: [QueueSamples], orderOnly: Bool = false, width: Double = 1100) -> String {
        let header = 28.0
        let total = queues.isEmpty ? 60 : Double(queues.count) * (TimelineChart.height + header)
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(total))\" viewBox=\"0 0 \(n(width)) \(n(total))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
        if queues.isEmpty {
            s += "<text x=\"20\" y=\"30\">no event matched the selected queues and time range</text>\n"
        }
        var y = 0.0
        for q in queues {
            var windows: [(start: Int64, end: Int64?, label: String)] = []
            var open: Int64?
            for sample in q.samples {
                if sample.windowOpen, open == nil { open = sample.time }
                if !sample.windowOpen, let start = open {
                    windows.append((start, sample.time, "mutual wait"))
                    open = nil
                }
            }
            if let start = open { windows.append((start, nil, "mutual wait (open at the end of the range)")) }
            var chart = TimelineChart(samples: q.samples, windows: windows)
            chart.orderOnly = orderOnly
            chart.width = width
            var title = "\(q.queue): \(q.samples.count) event(s)"
            if q.dropped > 0 { title += ", \(q.dropped) more left out: narrow the range with --from/--to" }
            s += "<text x=\"12\" y=\"\(n(y + 18))\" font-size=\"14\" font-weight=\"bold\">\(esc(title))</text>\n"
            let inner = chart.render(id: "queue-\(q.queue.controllerName)-\(q.queue.type.name)\(q.queue.qid)", title: title)
            // Nest the chart below its title.
            s += inner.replacingFirst("<svg ", with: "<svg x=\"0\" y=\"\(n(y + header))\" ")
            y += TimelineChart.height + header
        }
        s += "</svg>\n"
        return s
    }
}

extension String {
    /// Replaces `target` when the string starts with it.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard hasPrefix(target) else { return self }
        return replacement + dropFirst(target.count)
    }
}
