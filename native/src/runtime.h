#pragma once

#include <napi.h>

namespace dsd {
void registerRuntime(Napi::Env env, Napi::Object exports);
}
