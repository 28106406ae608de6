#pragma once

#include <napi.h>

namespace dsd {
void registerAutocast(Napi::Env env, Napi::Object exports);
}
