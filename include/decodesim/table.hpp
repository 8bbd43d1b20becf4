// Results as plain tables: every analysis returns one, every writer takes one.
#pragma once
#include <string>
#include <variant>
#include <vector>

namespace decodesim {

struct Column {
  std::string name;  // CSV/JSON key, carries the unit where it has one (kv_bytes, tpot_ms)
  std::string unit;  // shown in the aligned table's header
  bool in_csv = true;  // extra columns stay out of the CSV, whose columns are a fixed contract
};

using Cell = std::variant<std::string, double>;

struct Table {
  std::string name;   // file stem: census, cost, afd, ...
  std::string title;  // one line above the aligned table
  std::vector<Column> columns;
  std::vector<std::vector<Cell>> rows;
  std::vector<std::string> notes;  // printed under the aligned table

  void add(std::vector<Cell> row) { rows.push_back(std::move(row)); }
  // The value of a numeric column in a row (for tests and plots); throws if absent.
  double number(size_t row, const std::string& column) const;
  const std::string& text(size_t row, const std::string& column) const;
  size_t column_index(const std::string& column) const;
};

}  // namespace decodesim
