// Tensor data in and out of JS (copies between typed arrays and tensors) and tensor metadata.
#include "tensors.h"

#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "handles.h"

namespace dsd {
namespace {

std::vector<int64_t> toShape(const Napi::Value& value) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), "shape: expected an array of non-negative integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    double d = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d == std::trunc(d))) {
      throw Napi::TypeError::New(value.Env(), "shape: expected an array of non-negative integers");
    }
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

at::ScalarType toScalarType(const Napi::Value& value) {
  if (!value.IsNumber()) throw Napi::TypeError::New(value.Env(), "dtype: expected a scalar type code");
  int code = value.As<Napi::Number>().Int32Value();
  if (code < 0 || code >= static_cast<int>(at::ScalarType::NumOptions)) {
    throw Napi::RangeError::New(value.Env(), "dtype: unknown scalar type code " + std::to_string(code));
  }
  return static_cast<at::ScalarType>(code);
}

// fromBuffer(typedArray, shape, dtypeCode): a new CPU tensor holding a copy of the bytes.
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  if (info.Length() < 3 || !info[0].IsTypedArray()) {
    throw Napi::TypeError::New(info.Env(), "fromBuffer(data, shape, dtype): data must be a typed array");
  }
  auto data = info[0].As<Napi::TypedArray>();
  std::vector<int64_t> shape = toShape(info[1]);
  at::ScalarType dtype = toScalarType(info[2]);
  // Bools arrive as bytes; normalise any non-zero byte to true.
  at::ScalarType storedAs = dtype == at::kBool ? at::kByte : dtype;
  at::Tensor tensor = at::empty(shape, at::TensorOptions().dtype(storedAs));
  const size_t expected = tensor.nbytes();
  if (data.ByteLength() != expected) {
    throw Napi::RangeError::New(info.Env(), "fromBuffer: " + std::to_string(data.ByteLength()) +
                                                " bytes given for a tensor of " + std::to_string(expected) + " bytes");
  }
  if (expected > 0) {
    const auto* bytes = static_cast<const uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
    std::memcpy(tensor.data_ptr(), bytes, expected);
  }
  if (dtype == at::kBool) tensor = tensor.ne(0);
  return wrap(info.Env(), std::move(tensor));
}

// toBuffer(handle): an ArrayBuffer with a copy of the elements in row-major order (bools as bytes).
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  at::Tensor tensor = unwrap(info[0], "toBuffer").detach();
  if (!tensor.device().is_cpu()) tensor = tensor.to(at::kCPU);
  if (tensor.scalar_type() == at::kBool) tensor = tensor.to(at::kByte);
  tensor = tensor.contiguous();
  auto buffer = Napi::ArrayBuffer::New(info.Env(), tensor.nbytes());
  if (tensor.nbytes() > 0) std::memcpy(buffer.Data(), tensor.data_ptr(), tensor.nbytes());
  return buffer;
}

Napi::Value intArray(Napi::Env env, c10::IntArrayRef values) {
  auto array = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) array.Set(static_cast<uint32_t>(i), static_cast<double>(values[i]));
  return array;
}

Napi::Value Shape(const Napi::CallbackInfo& info) { return intArray(info.Env(), unwrap(info[0], "shape").sizes()); }

Napi::Value Strides(const Napi::CallbackInfo& info) {
  return intArray(info.Env(), unwrap(info[0], "strides").strides());
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(unwrap(info[0], "dtype").scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), unwrap(info[0], "device").device().str());
}

// isContiguous(handle, memoryFormatCode = 0): dense in that order (0 row-major, 2 channels-last, 3 channels-last 3-D).
Napi::Value IsContiguous(const Napi::CallbackInfo& info) {
  const at::Tensor& tensor = unwrap(info[0], "isContiguous");
  int code = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  if (code != 0 && code != 2 && code != 3) throw Napi::RangeError::New(info.Env(), "isContiguous: unknown memory format code " + std::to_string(code));
  return Napi::Boolean::New(info.Env(), tensor.is_contiguous(static_cast<at::MemoryFormat>(code)));
}

}  // namespace

void registerTensors(Napi::Env env, Napi::Object exports) {
  exports.Set("fromBuffer", Napi::Function::New(env, entry<FromBuffer>, "fromBuffer"));
  exports.Set("toBuffer", Napi::Function::New(env, entry<ToBuffer>, "toBuffer"));
  exports.Set("shape", Napi::Function::New(env, entry<Shape>, "shape"));
  exports.Set("strides", Napi::Function::New(env, entry<Strides>, "strides"));
  exports.Set("dtype", Napi::Function::New(env, entry<Dtype>, "dtype"));
  exports.Set("isContiguous", Napi::Function::New(env, entry<IsContiguous>, "isContiguous"));
  exports.Set("device", Napi::Function::New(env, entry<Device>, "device"));
}

}  // namespace dsd
