import ShadowBellCore

/// Opens an input whose binary format the detector recognised. The one place binary readers
/// plug into `openEventSource`.
func openBinarySource(
    _ format: BinaryFormat, input: ByteInput, index: UInt16, options: SourceOptions
) throws(InputError) -> any EventSource {
    throw .unsupported(
        path: input.path,
        reason: "\(format) input recognised; support arrives with the binary readers")
}
