// Every native entry point runs inside `guarded`, which turns C++ exceptions (libtorch's c10::Error and the standard
// ones) into JS errors carrying libtorch's message, so no input from JS can take the process down by an exception.
#pragma once

#include <c10/util/Exception.h>
#include <napi.h>

#include <exception>
#include <string>

namespace dsd {

template <typename Fn>
Napi::Value guarded(const Napi::CallbackInfo& info, Fn&& fn) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value entry(const Napi::CallbackInfo& info) {
  return guarded(info, Fn);
}

}  // namespace dsd
