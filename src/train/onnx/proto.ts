/**
 * ONNX model encoding with protobufjs.
 *
 * The schema below is the subset of the official onnx.proto (onnx 1.12+, proto2, package `onnx`) that a model
 * made of plain tensors needs, with the official field numbers; protobufjs does the wire encoding. Shipping the
 * subset instead of the whole file keeps messages we never write (sparse tensors, functions, training info) out.
 * The `onnx-proto` npm package would give generated code for the whole schema, but it is unmaintained (2021,
 * protobufjs 6), so we declare the schema ourselves and let the maintained protobufjs encode it.
 *
 * Reading foreign models (the encoders' files, for the hidden-state outputs of models/hidden-states.ts) uses
 * the `*View` messages: the same field numbers, minus tensor payloads, so decoding a 1 GB model never copies
 * its weights. Such a model is never re-encoded (our subset would drop what it does not declare): new graph
 * outputs are appended as a second serialized `graph` field, which protobuf merges into the first
 * (repeated fields are concatenated), leaving every original byte as it was.
 */
import protobuf from "protobufjs";

const ONNX_PROTO_SUBSET = `
syntax = "proto2";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; }
  optional string name = 1;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
}
message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
}
message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}
message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}
message GraphView {
  repeated NodeProto node = 1;
  repeated TensorView initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message TensorView {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  repeated StringStringEntryProto external_data = 13;
  optional int32 data_location = 14;
}
message ModelView {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional GraphView graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}
message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}
message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}
message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    };
  };
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}
message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

/** TensorProto.DataType values used here. */
export const ONNX_DTYPE = { float32: 1, int64: 7, bool: 9, float64: 11 } as const;
/** Every TensorProto.DataType code that can appear in a model read here (for messages and type checks). */
export const ONNX_DTYPE_NAMES: Record<number, string> = {
  1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
  10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16",
};
export type OnnxElemType = keyof typeof ONNX_DTYPE;

/**
 * IR version 8 with opset 17 (onnx 1.12): LayerNormalization exists, ReduceSum/Split/Unsqueeze take their
 * axes as inputs, ReduceMean still as an attribute. The oldest opset with every op used here, so heads load
 * in older runtimes and pass Debian's onnx 1.12 checker.
 */
export const IR_VERSION = 8;
export const OPSET = 17;

const ATTR_TYPE = { float: 1, int: 2, string: 3, floats: 6, ints: 7 } as const;

export type AttrValue =
  | { kind: "float"; value: number }
  | { kind: "int"; value: number }
  | { kind: "string"; value: string }
  | { kind: "floats"; value: number[] }
  | { kind: "ints"; value: number[] };

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
  name?: string;
}

export interface OnnxValueInfo {
  name: string;
  elemType: OnnxElemType;
  /** number = fixed size, string = symbolic dimension (e.g. the batch). */
  shape: (number | string)[];
}

export interface OnnxInitializer {
  name: string;
  elemType: OnnxElemType;
  dims: number[];
  data: Float32Array | Float64Array | BigInt64Array | Uint8Array;
}

export interface OnnxModelSpec {
  graphName: string;
  nodes: OnnxNode[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  initializers: OnnxInitializer[];
  docString?: string;
  metadata?: Record<string, string>;
  producerVersion?: string;
}

let root: protobuf.Root | undefined;
function modelType(): protobuf.Type {
  root ??= protobuf.parse(ONNX_PROTO_SUBSET, { keepCase: true }).root;
  return root.lookupType("onnx.ModelProto");
}

function valueInfo(v: OnnxValueInfo) {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ONNX_DTYPE[v.elemType],
        shape: { dim: v.shape.map((d) => (typeof d === "number" ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function attribute(name: string, a: AttrValue) {
  switch (a.kind) {
    case "float":
      return { name, type: ATTR_TYPE.float, f: a.value };
    case "int":
      return { name, type: ATTR_TYPE.int, i: a.value };
    case "string":
      return { name, type: ATTR_TYPE.string, s: Buffer.from(a.value, "utf8") };
    case "floats":
      return { name, type: ATTR_TYPE.floats, floats: a.value };
    case "ints":
      return { name, type: ATTR_TYPE.ints, ints: a.value };
  }
}

/** raw_data is little-endian; copy-and-swap on big-endian hosts. */
function rawBytes(data: OnnxInitializer["data"]): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const bigEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;
  if (!bigEndian || data.BYTES_PER_ELEMENT === 1) return bytes;
  const copy = Buffer.from(bytes);
  if (data.BYTES_PER_ELEMENT === 4) copy.swap32();
  else copy.swap64();
  return copy;
}

export function encodeModel(spec: OnnxModelSpec): Uint8Array {
  const type = modelType();
  const message = {
    ir_version: IR_VERSION,
    opset_import: [{ domain: "", version: OPSET }],
    producer_name: "emofeat",
    producer_version: spec.producerVersion ?? "",
    doc_string: spec.docString ?? "",
    graph: {
      name: spec.graphName,
      node: spec.nodes.map((n, i) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? `${n.opType}_${i}`,
        op_type: n.opType,
        domain: "",
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      initializer: spec.initializers.map((t) => ({
        name: t.name,
        dims: t.dims,
        data_type: ONNX_DTYPE[t.elemType],
        raw_data: rawBytes(t.data),
      })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
    metadata_props: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const err = type.verify(message);
  if (err) throw new Error(`internal: invalid ONNX model message: ${err}`);
  return type.encode(type.fromObject(message)).finish();
}

// ---------------------------------------------------------------------------------------------------------
// Reading foreign models, and appending outputs to them
// ---------------------------------------------------------------------------------------------------------

export interface OnnxNodeView {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Integer attributes only (e.g. Cast's `to`); enough for dtype inference. */
  intAttrs: Record<string, number>;
}

export interface OnnxValueView {
  name: string;
  /** TensorProto.DataType code, when the model declares it. */
  elemType?: number;
}

export interface OnnxInitializerView {
  name: string;
  dataType: number;
  /** `location` of tensors stored in external data files (relative to the model file's folder). */
  externalLocation?: string;
}

export interface OnnxGraphView {
  nodes: OnnxNodeView[];
  inputs: OnnxValueView[];
  outputs: OnnxValueView[];
  valueInfo: OnnxValueView[];
  initializers: OnnxInitializerView[];
  metadata: Record<string, string>;
}

function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (v && typeof v === "object" && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

type Decoded = Record<string, unknown>;

function valueView(v: Decoded): OnnxValueView {
  const tensor = (v.type as Decoded | undefined)?.tensor_type as Decoded | undefined;
  const elem = tensor?.elem_type;
  return { name: String(v.name ?? ""), ...(elem !== undefined && elem !== 0 ? { elemType: toNumber(elem) } : {}) };
}

/** Decodes a model's graph structure (nodes, inputs, outputs, initializer names), skipping every weight payload. */
export function decodeModelView(bytes: Uint8Array): OnnxGraphView {
  root ??= protobuf.parse(ONNX_PROTO_SUBSET, { keepCase: true }).root;
  const model = root.lookupType("onnx.ModelView").decode(bytes) as unknown as Decoded;
  const graph = (model.graph ?? {}) as Decoded;
  const list = (x: unknown) => (Array.isArray(x) ? (x as Decoded[]) : []);
  return {
    nodes: list(graph.node).map((n) => ({
      name: String(n.name ?? ""),
      opType: String(n.op_type ?? ""),
      domain: String(n.domain ?? ""),
      inputs: (n.input as string[] | undefined) ?? [],
      outputs: (n.output as string[] | undefined) ?? [],
      intAttrs: Object.fromEntries(list(n.attribute).filter((a) => a.i !== undefined && a.i !== null).map((a) => [String(a.name), toNumber(a.i)])),
    })),
    inputs: list(graph.input).map(valueView),
    outputs: list(graph.output).map(valueView),
    valueInfo: list(graph.value_info).map(valueView),
    initializers: list(graph.initializer).map((t) => {
      const location = list(t.external_data).find((e) => e.key === "location")?.value;
      return {
        name: String(t.name ?? ""),
        dataType: toNumber(t.data_type ?? 0),
        ...(toNumber(t.data_location ?? 0) === 1 && typeof location === "string" ? { externalLocation: location } : {}),
      };
    }),
    metadata: Object.fromEntries(list(model.metadata_props).map((e) => [String(e.key), String(e.value ?? "")])),
  };
}

/**
 * Bytes that, appended to a serialized model, add these nodes and graph outputs (and metadata entries) to it:
 * a ModelProto holding only a `graph` with the new entries, which protobuf parsers merge into the model's graph.
 * Nodes are appended after the existing ones, so they must only consume tensors the graph already computes.
 */
export function encodeGraphAppendix(a: { nodes: OnnxNode[]; outputs: { name: string; elemType: number }[]; metadata?: Record<string, string> }): Uint8Array {
  const type = modelType();
  const message = {
    graph: {
      node: a.nodes.map((n) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name ?? n.outputs[0],
        op_type: n.opType,
        domain: "",
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      output: a.outputs.map((o) => ({ name: o.name, type: { tensor_type: { elem_type: o.elemType } } })),
    },
    metadata_props: Object.entries(a.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  const err = type.verify(message);
  if (err) throw new Error(`internal: invalid ONNX appendix: ${err}`);
  return type.encode(type.fromObject(message)).finish();
}
