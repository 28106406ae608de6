#pragma once

#include <napi.h>

namespace dsd {
void registerTensors(Napi::Env env, Napi::Object exports);
}
